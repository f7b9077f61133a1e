"""Migrations: the schema the code expects, applied once even by two processes at once."""

import asyncio

import asyncpg

from services.catalog.db import init_connection
from services.catalog.migrations import apply_migrations, load_migrations
from tests.support.database import create_database, drop_database

EXPECTED_COLUMNS = {
    "images": {
        "id",
        "sha256",
        "filename",
        "format",
        "width",
        "height",
        "instrument",
        "sample",
        "captured_at",
        "metadata",
        "created_at",
        "indexed_at",
        "indexed_model",
        "current_label_id",
        "label",
        "label_state",
        "label_confidence",
        "project_id",
        "created_by",
        "duplicate_of",
    },
    "labels": {
        "id",
        "image_id",
        "taxon",
        "annotator",
        "state",
        "confidence",
        "created_at",
        "taxon_id",
        "annotator_id",
        "reverts_label_id",
        "share",
    },
    "taxa": {
        "id",
        "name",
        "rank",
        "parent_id",
        "aphia_id",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
    },
    "projects": {"id", "name", "description", "created_at", "created_by"},
    "annotators": {"id", "name", "institution", "created_at", "created_by"},
    "api_keys": {
        "id",
        "annotator_id",
        "key_hash",
        "key_prefix",
        "role",
        "created_at",
        "created_by",
        "revoked_at",
        "revoked_by",
    },
    "suggestion_calibrations": {"id", "model", "created_at", "created_by", "calibration"},
    "current_labels": {
        "label_id",
        "image_id",
        "taxon",
        "annotator",
        "state",
        "confidence",
        "created_at",
    },
    "schema_migrations": {"version", "name", "checksum", "applied_at"},
    "ingest_jobs": {
        "id", "source", "created_at", "created_by", "closed", "finished_at", "kind", "params",
        "task_status", "task_attempts", "task_not_before", "task_lease_until", "task_error",
        "progress_done", "progress_total", "result", "project_id",
    },
    "index_outbox": {"image_id", "version", "attempts", "not_before", "lease_until", "error"},
    "cluster_runs": {"project_id", "job_id", "model", "clustered", "validated_at_run", "finished_at"},
    "cluster_proposals": {"id", "project_id", "size", "estimated_purity"},
    "cluster_members": {"cluster_id", "position", "image_id"},
    "ingest_items": {
        "id", "job_id", "sha256", "filename", "source", "fields", "status", "attempts",
        "not_before", "lease_until", "image_id", "error", "updated_at",
    },
}


async def test_schema_has_expected_tables_columns_and_indexes(conn):
    rows = await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'public'"
    )
    columns: dict[str, set[str]] = {}
    for row in rows:
        columns.setdefault(row["table_name"], set()).add(row["column_name"])
    # Tables of other parts (added by other migrations) are theirs to check.
    assert {table: columns.get(table) for table in EXPECTED_COLUMNS} == EXPECTED_COLUMNS
    indexes = {
        r["indexname"]
        for r in await conn.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    }
    assert {
        "labels_image_latest_idx",
        "images_label_idx",
        "images_label_state_idx",
        "images_sha256_key",
        "ingest_items_sha256_idx",
        "ingest_jobs_open_task_idx",
        "index_outbox_due_idx",
    } <= indexes
    recorded = [
        r["version"]
        for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    ]
    assert recorded == [m.version for m in load_migrations()]


async def test_concurrent_start_applies_each_migration_once_and_reapply_is_a_no_op():
    url = await create_database("nauplius_catalog_migrate")
    try:
        first, second = await asyncpg.connect(url), await asyncpg.connect(url)
        try:
            applied = await asyncio.gather(apply_migrations(first), apply_migrations(second))
            versions = [m.version for m in load_migrations()]
            assert sorted(applied[0] + applied[1]) == versions
            assert await apply_migrations(first) == []
            assert await first.fetchval("SELECT count(*) FROM schema_migrations") == len(versions)
            await init_connection(first)
            image_id = await first.fetchval(
                "INSERT INTO images (sha256, format, width, height)"
                " VALUES (repeat('a', 64), 'png', 1, 1) RETURNING id"
            )
            assert await apply_migrations(second) == []
            assert await first.fetchval("SELECT id FROM images") == image_id
        finally:
            await first.close()
            await second.close()
    finally:
        await drop_database(url)
