"""Job tasks: the work of an archive, suggestions or reconcile job itself (005_job_kinds...sql).

A task is claimed by one worker at a time under a lease (FOR UPDATE SKIP LOCKED), which every
progress report extends; a task whose worker died is claimed again once its lease ran out.
"""

from typing import Any

import asyncpg

from services.catalog import queries
from services.catalog.errors import Conflict
from services.catalog.jobs import JobNotFound, finish_jobs

TASK_KINDS = ("archive", "suggestions", "reconcile", "clusters", "adaptation", "reembed",
              "train")


async def create_task_job(conn: asyncpg.Connection, kind: str, params: dict[str, Any],
                          source: str | None, created_by: int | None) -> int:
    """An archive job stays open for its unpacked items and waits for its archive before its
    task is due; the other kinds have no items and are closed at once."""
    waits = kind == "archive"
    async with conn.transaction():
        if kind == "suggestions" and params.get("mode") == "incremental":
            # One pending incremental refresh covers every label change before it runs.
            await conn.execute(queries.LOCK_SUGGESTION_JOBS, queries.SUGGESTION_JOBS_LOCK)
            pending: int | None = await conn.fetchval(queries.PENDING_INCREMENTAL_REFRESH, params)
            if pending is not None:
                return pending
        job_id: int = await conn.fetchval(queries.INSERT_TASK_JOB, kind, params, source, created_by,
                                          not waits, "waiting" if waits else "pending")
        return job_id


async def check_waiting_archive(conn: asyncpg.Connection, job_id: int) -> None:
    job = await conn.fetchrow(queries.JOB_TASK_STATE, job_id)
    if job is None:
        raise JobNotFound(f"job {job_id} not found")
    if job["kind"] != "archive" or job["task_status"] != "waiting":
        raise Conflict(f"job {job_id} is not an archive job waiting for its archive")


async def archive_staged(conn: asyncpg.Connection, job_id: int) -> None:
    """The archive is in staging: its task becomes due."""
    if await conn.fetchval(queries.ARCHIVE_STAGED, job_id) is None:
        raise Conflict(f"job {job_id} is not an archive job waiting for its archive")


async def refuse_archive(conn: asyncpg.Connection, job_id: int, reason: str) -> None:
    async with conn.transaction():
        await conn.execute(queries.ARCHIVE_REFUSED, job_id, reason)
        await finish_jobs(conn, [job_id])


async def claim_task(conn: asyncpg.Connection, kinds: list[str], lease_s: float) -> dict[str, Any] | None:
    async with conn.transaction():
        record = await conn.fetchrow(queries.CLAIM_TASK, kinds, lease_s)
    return dict(record) if record else None


async def report_progress(conn: asyncpg.Connection, job_id: int, done: int | None,
                          total: int | None, lease_s: float) -> None:
    if await conn.fetchval(queries.TASK_PROGRESS, job_id, done, total, lease_s) is None:
        raise Conflict(f"job {job_id} has no running task")


async def finish_task(conn: asyncpg.Connection, job_id: int, outcome: str, error: str | None,
                      result: dict[str, Any] | None, retry_after_s: float) -> None:
    async with conn.transaction():
        if outcome == "retry":
            changed = await conn.fetchval(queries.TASK_RETRY, job_id, error, retry_after_s)
        else:
            changed = await conn.fetchval(queries.TASK_END, job_id, outcome, error, result)
        if changed is None:
            raise Conflict(f"job {job_id} has no running task")
        await finish_jobs(conn, [job_id])
