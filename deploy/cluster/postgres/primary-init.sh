#!/bin/sh
# Runs once, when the primary's data volume is first made (/docker-entrypoint-initdb.d): a role
# that may stream the write-ahead log, its password from a secret, a slot that keeps the WAL the
# replica has not received yet, and the one pg_hba rule that lets the replica in.
set -eu
password="$(cat "${REPLICATION_PASSWORD_FILE:-/run/secrets/postgres_replication_password}")"
psql -v ON_ERROR_STOP=1 -v password="$password" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SELECT pg_create_physical_replication_slot('replica_1');
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
