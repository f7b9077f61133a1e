"""/v1/jobs/...: the tasks of archive, suggestions and reconcile jobs, claimed by workers; the
archive an archive job unpacks, streamed in and out of staging."""

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from nauplius.core.contracts.catalog import (
    ClaimedTask,
    JobStatus,
    TaskClaim,
    TaskClaimRequest,
    TaskProgress,
    TaskResult,
)
from services.catalog import jobs, tasks
from services.catalog.deps import ConnectionDep, SettingsDep, StagingDep
from services.catalog.errors import ImageTooLarge, StoredFileMissing

router = APIRouter(prefix="/v1/jobs")

ARCHIVE_CHUNK = 1024 * 1024


@router.post("/tasks/claim")
async def claim_task(conn: ConnectionDep, body: TaskClaimRequest) -> TaskClaim:
    claimed = await tasks.claim_task(conn, list(body.kinds), body.lease_s)
    return TaskClaim(task=None if claimed is None else ClaimedTask.model_validate(claimed))


@router.post("/{job_id}/task/progress")
async def task_progress(conn: ConnectionDep, job_id: int, body: TaskProgress) -> JobStatus:
    """Progress so far; extends the lease (a worker that stops reporting loses the task)."""
    await tasks.report_progress(conn, job_id, body.done, body.total, body.lease_s)
    return await jobs.job_status(conn, job_id)


@router.post("/{job_id}/task/result")
async def task_result(conn: ConnectionDep, staging: StagingDep, job_id: int,
                      body: TaskResult) -> JobStatus:
    await tasks.finish_task(conn, job_id, body.outcome, body.error, body.result, body.retry_after_s)
    if body.outcome == "done":  # a failed archive is kept to look into
        staging.archive_path(job_id).unlink(missing_ok=True)
    return await jobs.job_status(conn, job_id)


@router.put("/{job_id}/archive")
async def put_archive(conn: ConnectionDep, settings: SettingsDep, staging: StagingDep,
                      request: Request, job_id: int) -> JobStatus:
    """The request body, streamed to staging (never held in memory), is the job's archive; its
    task becomes due. Over CATALOG_MAX_ARCHIVE_BYTES: 413, and the job fails with that reason."""
    await tasks.check_waiting_archive(conn, job_id)
    path = staging.archive_path(job_id)
    partial = path.with_name(path.name + ".part")
    partial.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    try:
        async with await anyio.open_file(partial, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > settings.max_archive_bytes:
                    raise ImageTooLarge(f"archive over {settings.max_archive_bytes} bytes")
                await out.write(chunk)
    except ImageTooLarge as refused:
        partial.unlink(missing_ok=True)
        await tasks.refuse_archive(conn, job_id, refused.detail)
        raise
    partial.rename(path)
    await tasks.archive_staged(conn, job_id)
    return await jobs.job_status(conn, job_id)


@router.get("/{job_id}/archive", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}}})
async def get_archive(staging: StagingDep, job_id: int) -> FileResponse:
    path = staging.archive_path(job_id)
    if not path.is_file():
        raise StoredFileMissing(f"the staged archive of job {job_id} is missing")
    return FileResponse(path, media_type="application/octet-stream")
