#!/bin/sh
# The streaming replica: on first start, copy the primary (pg_basebackup over the replication
# role, -R writes the standby settings and its connection), then run as a hot standby through
# the image's own entrypoint. Read-only; promote it with `SELECT pg_promote();` (docs/deployment.md).
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    until pg_isready -h postgres-primary -p 5432 -U replicator; do sleep 2; done
    PGPASSWORD="$(cat /run/secrets/postgres_replication_password)" \
        su-exec postgres pg_basebackup -h postgres-primary -p 5432 -U replicator \
        -D "$PGDATA" -X stream -S replica_1 -R --progress
fi
exec docker-entrypoint.sh postgres -c hot_standby=on
