"""Model versions (013_model_versions.sql): the active one, the others whose collection is
complete or being filled by a reembed job, and that job's progress."""

from typing import Any

import asyncpg

from nauplius.core.contracts.models import (
    ModelVersion,
    ModelVersions,
    ReembedIn,
    ReembedProgress,
    ReembedQueued,
    VersionRetired,
)
from services.catalog.errors import Conflict, NotFound
from services.catalog.jobs import finish_jobs
from services.catalog.tasks import create_task_job

# One change of the versions at a time: a queue, a completion and a switch never interleave.
VERSIONS_LOCK = 0x6E617570_6D76  # "naup" "mv"
LOCK_VERSIONS = "SELECT pg_advisory_xact_lock($1)"

COLUMNS = """name, output_dim, state, active, job_id, done, total, after_id, created_at,
             completed_at, activated_at"""
SELECT_VERSIONS = f"SELECT {COLUMNS} FROM model_versions ORDER BY name"
SELECT_VERSION = f"SELECT {COLUMNS} FROM model_versions WHERE name = $1"
SELECT_ACTIVE = "SELECT name FROM model_versions WHERE active"
# The version in use before any switch (the embedder's default): complete, as it has served.
RECORD_CURRENT = """
INSERT INTO model_versions (name, output_dim, state, active, completed_at, activated_at)
VALUES ($1, $2, 'complete', true, now(), now())
ON CONFLICT (name) DO UPDATE SET state = 'complete', active = true, activated_at = now()
"""
OPEN_JOB = """
SELECT id FROM ingest_jobs WHERE id = $1 AND task_status IN ('pending', 'running')
"""
START_FILLING = f"""
INSERT INTO model_versions (name, output_dim, state, job_id) VALUES ($1, $2, 'filling', $3)
ON CONFLICT (name) DO UPDATE
   SET output_dim = $2, state = 'filling', job_id = $3, done = 0, total = NULL, after_id = 0,
       completed_at = NULL
RETURNING {COLUMNS}
"""
PROGRESS = f"""
UPDATE model_versions
   SET done = $3, total = $4, after_id = $5,
       state = CASE WHEN $6 THEN 'complete' ELSE state END,
       completed_at = CASE WHEN $6 THEN now() END
 WHERE name = $1 AND job_id = $2 AND state = 'filling'
RETURNING {COLUMNS}
"""
DEACTIVATE = "UPDATE model_versions SET active = false WHERE active AND name <> $1"
ACTIVATE = f"""
UPDATE model_versions SET active = true, activated_at = now() WHERE name = $1
RETURNING {COLUMNS}
"""
DELETE_VERSION = "DELETE FROM model_versions WHERE name = $1"
# A retired version's open reembed job: failed with the reason, closed. Its worker's next
# progress report (job and version) is refused, and so is its result: it never ends 'done'.
END_RETIRED_JOB = """
UPDATE ingest_jobs
   SET task_status = 'failed', task_error = $2, task_lease_until = NULL, closed = true
 WHERE id = $1 AND task_status IN ('pending', 'running')
RETURNING id
"""
# Every image indexed in the version switched from is in the one switched to (complete: the
# re-embed covered the catalog, and every ingest since went to both), so it counts as indexed
# there: the worker's re-index pass has nothing to redo.
MOVE_INDEXED = "UPDATE images SET indexed_model = $2 WHERE indexed_model = $1"


def _version(row: asyncpg.Record) -> ModelVersion:
    return ModelVersion.model_validate(dict(row))


async def list_versions(conn: asyncpg.Connection) -> ModelVersions:
    versions = [_version(row) for row in await conn.fetch(SELECT_VERSIONS)]
    active = next((v.name for v in versions if v.active), None)
    return ModelVersions(data=versions, active=active)


async def queue_reembed(conn: asyncpg.Connection, name: str, body: ReembedIn,
                        created_by: int | None) -> ReembedQueued:
    """A reembed job filling `name`'s collection; the one already pending or running if any."""
    async with conn.transaction():
        await conn.execute(LOCK_VERSIONS, VERSIONS_LOCK)
        row = await conn.fetchrow(SELECT_VERSION, name)
        active = await conn.fetchval(SELECT_ACTIVE)
        in_use = active if active is not None else (body.current and body.current.name)
        if name == in_use:
            raise Conflict(f"model {name} is the active version: its collection is complete")
        filling = row is not None and row["state"] == "filling" and row["job_id"] is not None
        if filling and await conn.fetchval(OPEN_JOB, row["job_id"]) is not None:
            return ReembedQueued(queued=False, job_id=row["job_id"], version=_version(row))
        if active is None and body.current is not None:
            await conn.execute(RECORD_CURRENT, body.current.name, body.current.output_dim)
        job_id = await create_task_job(conn, "reembed", {"model": name}, "models", created_by)
        started = await conn.fetchrow(START_FILLING, name, body.output_dim, job_id)
    return ReembedQueued(queued=True, job_id=job_id, version=_version(started))


async def report_progress(conn: asyncpg.Connection, name: str,
                          body: ReembedProgress) -> ModelVersion:
    async with conn.transaction():
        await conn.execute(LOCK_VERSIONS, VERSIONS_LOCK)
        row = await conn.fetchrow(PROGRESS, name, body.job_id, body.done, body.total,
                                  body.after_id, body.complete)
        if row is None:
            await _require(conn, name)
            raise Conflict(f"model {name} is not being filled by job {body.job_id}")
    return _version(row)


async def activate(conn: asyncpg.Connection, name: str) -> ModelVersion:
    """Make `name` the active version: only a complete one; instant (no embedding)."""
    async with conn.transaction():
        await conn.execute(LOCK_VERSIONS, VERSIONS_LOCK)
        row = await _require(conn, name)
        if row["state"] != "complete":
            total = "?" if row["total"] is None else row["total"]
            raise Conflict(f"model {name} is not complete: {row['done']} of {total} stored "
                           f"images re-embedded so far (job {row['job_id']})")
        if row["active"]:
            return _version(row)
        previous = await conn.fetchval(SELECT_ACTIVE)
        await conn.execute(DEACTIVATE, name)
        switched = await conn.fetchrow(ACTIVATE, name)
        if previous is not None:
            await conn.execute(MOVE_INDEXED, previous, name)
    return _version(switched)


async def retire(conn: asyncpg.Connection, name: str) -> VersionRetired:
    """Forget a version that is not the active one; a reembed job still filling it fails. Its
    collection is the caller's to drop (the gateway asks the search service)."""
    async with conn.transaction():
        await conn.execute(LOCK_VERSIONS, VERSIONS_LOCK)
        row = await _require(conn, name)
        if row["active"]:
            raise Conflict(f"model {name} is the active version: switch to another version "
                           f"first")
        ended = None
        if row["state"] == "filling" and row["job_id"] is not None:
            ended = await conn.fetchval(END_RETIRED_JOB, row["job_id"],
                                        f"model {name} was retired while this job filled it")
            if ended is not None:
                await finish_jobs(conn, [ended])
        await conn.execute(DELETE_VERSION, name)
    return VersionRetired(version=_version(row), job_ended=ended)


async def _require(conn: asyncpg.Connection, name: str) -> Any:
    row = await conn.fetchrow(SELECT_VERSION, name)
    if row is None:
        raise NotFound(f"model {name} has no version here: queue its re-embed first")
    return row
