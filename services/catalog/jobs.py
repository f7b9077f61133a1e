"""Durable ingest jobs: SQL and the functions that take a connection (see 002_ingest_jobs.sql)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.catalog.errors import CatalogError

OPEN_STATUSES = ("pending", "running")
STATUSES = ("pending", "running", "done", "duplicate", "failed")
MAX_ERRORS_SHOWN = 100


class JobNotFound(CatalogError):
    status_code = 404


class JobClosed(CatalogError):
    status_code = 409


@dataclass(frozen=True, slots=True)
class NewItem:
    sha256: str | None
    filename: str | None
    source: str
    fields: dict[str, Any]
    error: str | None = None  # a source refused at intake: recorded failed


@dataclass(frozen=True, slots=True)
class ItemResult:
    id: int
    outcome: str  # done | retry | failed
    image_id: int | None = None
    error: str | None = None
    retry_after_s: float = 0.0


INSERT_JOB = "INSERT INTO ingest_jobs (source, created_by) VALUES ($1, $2) RETURNING id"
JOB_IS_OPEN = "SELECT NOT closed FROM ingest_jobs WHERE id = $1 FOR SHARE"
INSERT_ITEMS = """
INSERT INTO ingest_items (job_id, sha256, filename, source, fields, status, error)
SELECT $1, i.sha256, i.filename, i.source, i.fields,
       CASE WHEN i.error IS NULL THEN 'pending' ELSE 'failed' END, i.error
  FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[])
       AS i (sha256, filename, source, fields, error)
"""
CLOSE_JOB = "UPDATE ingest_jobs SET closed = true WHERE id = $1 RETURNING id"
# A closed job with no open item is finished; stamped once.
FINISH_JOBS = """
UPDATE ingest_jobs AS j SET finished_at = now()
 WHERE j.id = any($1::bigint[]) AND j.closed AND j.finished_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM ingest_items i
                    WHERE i.job_id = j.id AND i.status IN ('pending', 'running'))
"""
SELECT_JOB = """
SELECT id, source, created_at, created_by, closed, finished_at,
       extract(epoch FROM coalesce(finished_at, now()) - created_at) AS elapsed_s
  FROM ingest_jobs WHERE id = $1
"""
SELECT_JOB_IDS = """
SELECT id FROM ingest_jobs WHERE ($1::boolean IS NOT TRUE OR finished_at IS NULL)
 ORDER BY id DESC LIMIT $2
"""
COUNT_BY_STATUS = "SELECT status, count(*) AS n FROM ingest_items WHERE job_id = $1 GROUP BY status"
SELECT_ERRORS = f"""
SELECT source, filename, error FROM ingest_items WHERE job_id = $1 AND status = 'failed'
 ORDER BY id LIMIT {MAX_ERRORS_SHOWN}
"""
# Staged bytes are written and their items recorded under this lock held shared; they are
# deleted under it held exclusively, so a file can never vanish between an intake's write and its
# rows' commit (another intake of the same bytes may be in flight while its twin settles).
STAGING_LOCK = 0x6E617570  # "naup"
LOCK_STAGING_SHARED = "SELECT pg_advisory_xact_lock_shared($1)"
LOCK_STAGING_EXCLUSIVE = "SELECT pg_advisory_xact_lock($1)"
# Contents of these items that no open or failed item still needs: the image store has them.
RELEASABLE_STAGED = """
SELECT DISTINCT i.sha256 FROM ingest_items i
 WHERE i.id = any($1::bigint[]) AND i.status IN ('done', 'duplicate')
   AND NOT EXISTS (SELECT 1 FROM ingest_items o
                    WHERE o.sha256 = i.sha256 AND o.status IN ('pending', 'running', 'failed'))
"""
# Pending items that are due, and running items whose worker let the lease run out (it died).
CLAIM_ITEMS = """
WITH picked AS (
    SELECT id FROM ingest_items
     WHERE status IN ('pending', 'running')
       AND ((status = 'pending' AND not_before <= now())
            OR (status = 'running' AND lease_until < now()))
     ORDER BY id
     LIMIT $1
       FOR UPDATE SKIP LOCKED
)
UPDATE ingest_items AS i
   SET status = 'running', attempts = i.attempts + 1,
       lease_until = now() + $2 * interval '1 second', updated_at = now()
  FROM picked, ingest_jobs j WHERE i.id = picked.id AND j.id = i.job_id
RETURNING i.id, i.job_id, i.sha256, i.filename, i.source, i.fields, i.attempts,
          j.created_by
"""
SELECT_ITEM_SHA256 = "SELECT sha256 FROM ingest_items WHERE id = $1"
# Only a running item takes a result: a late answer from a worker whose item was retaken and
# finished by another is dropped.
MARK_DONE = """
UPDATE ingest_items SET status = 'done', image_id = $2, error = NULL, lease_until = NULL,
       updated_at = now()
 WHERE id = $1 AND status = 'running'
   AND NOT EXISTS (SELECT 1 FROM ingest_items o WHERE o.image_id = $2 AND o.status = 'done')
   AND (SELECT created_at FROM images WHERE id = $2)
       >= (SELECT j.created_at FROM ingest_jobs j JOIN ingest_items it ON it.job_id = j.id
            WHERE it.id = $1)
RETURNING job_id
"""
MARK_DUPLICATE = """
UPDATE ingest_items SET status = 'duplicate', image_id = $2, error = NULL, lease_until = NULL,
       updated_at = now()
 WHERE id = $1 AND status = 'running'
RETURNING job_id
"""
MARK_FAILED = """
UPDATE ingest_items SET status = 'failed', error = $2, lease_until = NULL, updated_at = now()
 WHERE id = $1 AND status = 'running'
RETURNING job_id
"""
MARK_RETRY = """
UPDATE ingest_items SET status = 'pending', error = $2, lease_until = NULL,
       not_before = now() + $3 * interval '1 second', updated_at = now()
 WHERE id = $1 AND status = 'running'
RETURNING job_id
"""


async def create_job(conn: asyncpg.Connection, source: str | None, created_by: int | None) -> int:
    return await conn.fetchval(INSERT_JOB, source, created_by)


async def add_items(conn: asyncpg.Connection, job_id: int, items: list[NewItem],
                    stage: Callable[[], Awaitable[None]]) -> None:
    """Stage the bytes (`stage`), then record the items in one statement; the job must exist
    and still be open."""
    async with conn.transaction():
        is_open = await conn.fetchval(JOB_IS_OPEN, job_id)
        if is_open is None:
            raise JobNotFound(f"job {job_id} not found")
        if not is_open:
            raise JobClosed(f"job {job_id} is closed: no more items can be added")
        await conn.execute(LOCK_STAGING_SHARED, STAGING_LOCK)
        await stage()
        await conn.execute(
            INSERT_ITEMS, job_id,
            [i.sha256 for i in items], [i.filename for i in items], [i.source for i in items],
            [i.fields for i in items], [i.error for i in items],
        )
        await conn.execute(FINISH_JOBS, [job_id])


async def close_job(conn: asyncpg.Connection, job_id: int) -> None:
    async with conn.transaction():
        if await conn.fetchval(CLOSE_JOB, job_id) is None:
            raise JobNotFound(f"job {job_id} not found")
        await conn.execute(FINISH_JOBS, [job_id])


async def job_status(conn: asyncpg.Connection, job_id: int) -> dict[str, Any]:
    job = await conn.fetchrow(SELECT_JOB, job_id)
    if job is None:
        raise JobNotFound(f"job {job_id} not found")
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({r["status"]: r["n"] for r in await conn.fetch(COUNT_BY_STATUS, job_id)})
    ended = counts["done"] + counts["duplicate"] + counts["failed"]
    elapsed = float(job["elapsed_s"])
    errors = [dict(r) for r in await conn.fetch(SELECT_ERRORS, job_id)]
    return {
        "id": job["id"], "source": job["source"], "created_at": job["created_at"].isoformat(),
        "created_by": job["created_by"],
        "closed": job["closed"], "finished": job["finished_at"] is not None,
        "finished_at": job["finished_at"].isoformat() if job["finished_at"] else None,
        "total": sum(counts.values()), "counts": counts,
        "rate": ended / elapsed if elapsed > 0 else 0.0, "elapsed_s": elapsed, "errors": errors,
    }


async def list_jobs(conn: asyncpg.Connection, running_only: bool, limit: int) -> list[dict[str, Any]]:
    ids = [r["id"] for r in await conn.fetch(SELECT_JOB_IDS, running_only, limit)]
    return [await job_status(conn, job_id) for job_id in ids]


async def claim_items(conn: asyncpg.Connection, limit: int, lease_s: float) -> list[dict[str, Any]]:
    async with conn.transaction():
        records = await conn.fetch(CLAIM_ITEMS, limit, lease_s)
    return sorted((dict(r) for r in records), key=lambda r: r["id"])


async def item_sha256(conn: asyncpg.Connection, item_id: int) -> str | None:
    return await conn.fetchval(SELECT_ITEM_SHA256, item_id)


async def release_staged(conn: asyncpg.Connection, item_ids: list[int],
                         delete: Callable[[list[str]], Awaitable[None]]) -> int:
    """Delete (`delete`) the staged bytes of these items once nothing else needs them: every
    item of the content is done or a duplicate. Failed items keep theirs for inspection.
    Returns how many contents were released."""
    async with conn.transaction():
        await conn.execute(LOCK_STAGING_EXCLUSIVE, STAGING_LOCK)
        releasable = [r["sha256"] for r in await conn.fetch(RELEASABLE_STAGED, item_ids)]
        if releasable:
            await delete(releasable)
    return len(releasable)


async def record_results(conn: asyncpg.Connection, results: list[ItemResult]) -> int:
    """Apply each result; returns how many items it changed. A `done` item whose image was
    already counted (made before its job, or done by another item) becomes a duplicate."""
    changed, jobs = 0, set()
    async with conn.transaction():
        for result in results:
            if result.outcome == "done":
                job = None
                async with conn.transaction():  # savepoint: a concurrent `done` may win the index
                    try:
                        job = await conn.fetchval(MARK_DONE, result.id, result.image_id)
                    except asyncpg.UniqueViolationError:
                        job = None
                if job is None:
                    job = await conn.fetchval(MARK_DUPLICATE, result.id, result.image_id)
            elif result.outcome == "failed":
                job = await conn.fetchval(MARK_FAILED, result.id, result.error)
            else:
                job = await conn.fetchval(MARK_RETRY, result.id, result.error, result.retry_after_s)
            if job is not None:
                changed += 1
                jobs.add(job)
        await conn.execute(FINISH_JOBS, list(jobs))
    return changed
