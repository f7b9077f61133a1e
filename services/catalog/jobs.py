"""Durable ingest jobs: the functions that take a connection (see 002_ingest_jobs.sql)."""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import asyncpg

from nauplius.core.contracts.catalog import (
    ITEM_STATUSES,
    MAX_ERROR_LENGTH,
    ClaimedItem,
    ItemResult,
    JobError,
    JobStatus,
    JobTask,
    UploadEntry,
)
from services.catalog import queries
from services.catalog.access import Caller, Scope
from services.catalog.errors import CatalogError, InvalidMetadata

logger = logging.getLogger("nauplius.catalog")
# The source of the failed item that records why an intake was refused.
INTAKE_SOURCE = "intake"


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


def item_fields(entry: UploadEntry) -> dict[str, Any]:
    """What an item keeps of its entry for the store its worker sends it to (JOB_ITEM_FIELDS,
    those set); a label's state only when the entry gives it."""
    fields: dict[str, Any] = {key: value for key in ("label", "instrument", "sample")
                              if (value := getattr(entry, key)) is not None}
    if "label" in fields and "label_state" in entry.model_fields_set:
        fields["label_state"] = entry.label_state
    if entry.captured_at is not None:
        fields["captured_at"] = entry.captured_at.isoformat()
    fields["metadata"] = entry.metadata
    return fields


async def finish_jobs(conn: asyncpg.Connection, job_ids: list[int]) -> None:
    """Stamp these jobs finished if nothing is left to do in them. Their rows are locked first,
    in a statement of their own: a transaction that settles items then waits for a concurrent
    close or task result of the job (which hold its row), and FINISH_JOBS, a later statement,
    sees what that one committed; two that settle items of one job take turns alike. Without
    the lock each of two such transactions could see the other's work not yet committed, and
    the job would stay open for ever. (An intake needs no finish: its job is open.)"""
    await conn.execute(queries.LOCK_JOBS, job_ids)
    await conn.execute(queries.FINISH_JOBS, job_ids)


async def create_job(conn: asyncpg.Connection, source: str | None, created_by: int | None) -> int:
    job_id: int = await conn.fetchval(queries.INSERT_JOB, source, created_by)
    return job_id


async def add_items(conn: asyncpg.Connection, job_id: int, items: list[NewItem],
                    stage: Callable[[], Awaitable[None]],
                    unstage: Callable[[list[str]], Awaitable[None]]) -> None:
    """Stage the bytes (`stage`), then record the items in one statement; the job must exist
    and still be open. When the transaction fails, what it staged that no item needs is
    deleted again (`unstage`). Items the database refuses to hold are InvalidMetadata."""
    staging = False
    try:
        async with conn.transaction():
            is_open = await conn.fetchval(queries.JOB_IS_OPEN, job_id)
            if is_open is None:
                raise JobNotFound(f"job {job_id} not found")
            if not is_open:
                raise JobClosed(f"job {job_id} is closed: no more items can be added")
            await conn.execute(queries.LOCK_STAGING_SHARED, queries.STAGING_LOCK_KEY)
            staging = True
            await stage()
            try:
                await conn.execute(
                    queries.INSERT_JOB_ITEMS, job_id,
                    [i.sha256 for i in items], [i.filename for i in items],
                    [i.source for i in items], [i.fields for i in items], [i.error for i in items],
                )
            except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
                raise InvalidMetadata(f"the items cannot be stored: {exc}") from exc
    except BaseException:
        if staging:
            with anyio.CancelScope(shield=True):  # a cancelled request still cleans up
                await _unstage_unneeded(conn, [i.sha256 for i in items if i.sha256], unstage)
        raise


async def _unstage_unneeded(conn: asyncpg.Connection, sha256s: list[str],
                            unstage: Callable[[list[str]], Awaitable[None]]) -> None:
    """Delete the staged bytes of these contents that no item needs (under the staging lock held
    exclusively, so a concurrent intake of the same bytes has committed its items first).
    Best effort: the failure that rolled the intake back is what the caller hears of."""
    try:
        async with conn.transaction():
            await conn.execute(queries.LOCK_STAGING_EXCLUSIVE, queries.STAGING_LOCK_KEY)
            needed = {r["sha256"] for r in await conn.fetch(queries.STAGED_IN_USE, sha256s)}
            await unstage(sorted(set(sha256s) - needed))
    except Exception:
        logger.exception("could not delete the staged bytes of a failed intake")


async def fail_intake(conn: asyncpg.Connection, job_id: int, actor: int | None,
                      reason: str) -> None:
    """Close an open job whose items were refused for what they are (sent again, they get the
    same answer), so a sender that gives up does not leave it open forever: the refusal becomes
    a failed item with its reason, an archive waited for fails, and the job finishes once its
    other items are settled. Only a refusal of the creator's own request closes it (or of a
    service's, which names no annotator): a bad request of anyone else leaves the job alone."""
    async with conn.transaction():
        job = await conn.fetchrow(queries.SELECT_JOB, job_id)
        if job is None or job["closed"] or actor not in (None, job["created_by"]):
            return
        reason = reason[:MAX_ERROR_LENGTH]
        await conn.execute(queries.INSERT_JOB_ITEMS, job_id, [None], [None], [INTAKE_SOURCE],
                           [{}], [reason])
        await conn.execute(queries.CLOSE_JOB, job_id)
        await conn.execute(queries.ARCHIVE_REFUSED, job_id, reason)
        await finish_jobs(conn, [job_id])


async def require_owner(conn: asyncpg.Connection, job_id: int, caller: Caller,
                        doing: str) -> None:
    """404 for an unknown job; 403 unless the caller created it or is an admin."""
    record = await conn.fetchrow(queries.JOB_OWNER, job_id)
    if record is None:
        raise JobNotFound(f"job {job_id} not found")
    caller.require_owner(job_id, record["created_by"], doing)


async def require_visible(conn: asyncpg.Connection, job_id: int, scope: Scope) -> None:
    """404 unless the caller created the job or may read its project."""
    visible = await conn.fetchval(queries.JOB_VISIBLE, scope.caller.annotator_id,
                                  scope.projects("viewer"), job_id)
    if not visible:
        raise JobNotFound(f"job {job_id} not found")


async def close_job(conn: asyncpg.Connection, job_id: int) -> None:
    async with conn.transaction():
        if await conn.fetchval(queries.CLOSE_JOB, job_id) is None:
            raise JobNotFound(f"job {job_id} not found")
        await finish_jobs(conn, [job_id])


async def job_status(conn: asyncpg.Connection, job_id: int) -> JobStatus:
    job = await conn.fetchrow(queries.SELECT_JOB, job_id)
    if job is None:
        raise JobNotFound(f"job {job_id} not found")
    counts = dict.fromkeys(ITEM_STATUSES, 0)
    counts.update({r["status"]: r["n"] for r in await conn.fetch(queries.COUNT_JOB_ITEMS, job_id)})
    ended = counts["done"] + counts["duplicate"] + counts["failed"]
    elapsed = float(job["elapsed_s"])
    errors = [JobError.model_validate(dict(r))
              for r in await conn.fetch(queries.SELECT_JOB_ERRORS, job_id)]
    task = None if job["task_status"] is None else JobTask(
        status=job["task_status"], attempts=job["task_attempts"], done=job["progress_done"],
        total=job["progress_total"], error=job["task_error"], result=job["result"])
    return JobStatus(
        id=job["id"], kind=job["kind"], task=task, source=job["source"], created_at=job["created_at"],
        created_by=job["created_by"], closed=job["closed"],
        finished=job["finished_at"] is not None, finished_at=job["finished_at"],
        total=sum(counts.values()), counts=counts,
        rate=ended / elapsed if elapsed > 0 else 0.0, elapsed_s=elapsed, errors=errors,
    )


async def list_jobs(conn: asyncpg.Connection, running_only: bool, limit: int,
                    scope: Scope) -> list[JobStatus]:
    """The newest jobs the caller may see (their own, and those of projects they read)."""
    records = await conn.fetch(queries.SELECT_JOB_IDS, running_only, limit,
                               scope.caller.annotator_id, scope.projects("viewer"))
    ids = [r["id"] for r in records]
    return [await job_status(conn, job_id) for job_id in ids]


async def claim_items(conn: asyncpg.Connection, limit: int, lease_s: float,
                      max_claims: int) -> list[ClaimedItem]:
    """Due items, leased; an item already taken `max_claims` times and never settled fails."""
    async with conn.transaction():
        abandoned = await conn.fetch(queries.ABANDON_ITEMS, max_claims)
        if abandoned:
            await finish_jobs(conn, list({r["job_id"] for r in abandoned}))
        records = await conn.fetch(queries.CLAIM_ITEMS, limit, lease_s)
    return sorted((ClaimedItem.model_validate(dict(r)) for r in records), key=lambda i: i.id)


async def item_sha256(conn: asyncpg.Connection, item_id: int) -> str | None:
    sha256: str | None = await conn.fetchval(queries.SELECT_ITEM_SHA256, item_id)
    return sha256


async def release_staged(conn: asyncpg.Connection, item_ids: list[int],
                         delete: Callable[[list[str]], Awaitable[None]]) -> int:
    """Delete (`delete`) the staged bytes of these items once nothing else needs them: every
    item of the content is done or a duplicate. Failed items keep theirs for inspection.
    Returns how many contents were released."""
    async with conn.transaction():
        await conn.execute(queries.LOCK_STAGING_EXCLUSIVE, queries.STAGING_LOCK_KEY)
        releasable = [r["sha256"] for r in await conn.fetch(queries.RELEASABLE_STAGED, item_ids)]
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
                        job = await conn.fetchval(
                            queries.MARK_ITEM_DONE, result.id, result.image_id
                        )
                    except asyncpg.UniqueViolationError:
                        job = None
                if job is None:
                    job = await conn.fetchval(
                        queries.MARK_ITEM_DUPLICATE, result.id, result.image_id
                    )
            elif result.outcome == "failed":
                job = await conn.fetchval(queries.MARK_ITEM_FAILED, result.id, result.error)
            else:
                job = await conn.fetchval(
                    queries.MARK_ITEM_RETRY, result.id, result.error, result.retry_after_s
                )
            if job is not None:
                changed += 1
                jobs.add(job)
        await finish_jobs(conn, list(jobs))
    return changed
