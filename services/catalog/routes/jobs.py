"""/v1/jobs: record ingest jobs and their items, let workers claim and settle them."""

import base64
import hashlib
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import FileResponse

from nauplius.core.contracts.catalog import (
    DEFAULT_PROJECT_ID,
    ClaimedItem,
    ClaimedItems,
    ClaimRequest,
    ItemResults,
    JobCreate,
    JobItemsAdded,
    JobList,
    JobStatus,
    ResultsRecorded,
    UploadEntry,
)
from nauplius.core.contracts.text import Text, line_problem, scrub
from services.catalog import access, jobs, tasks
from services.catalog.config import CatalogSettings
from services.catalog.deps import (
    ActorDep,
    CallerDep,
    ConnectionDep,
    ScopeDep,
    SettingsDep,
    StagingDep,
)
from services.catalog.entries import job_entries, json_list
from services.catalog.errors import ImageTooLarge, InvalidMetadata, StagedBytesGone
from services.catalog.staging import StagingStore

router = APIRouter(prefix="/v1/jobs")


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_job(conn: ConnectionDep, actor: ActorDep, scope: ScopeDep,
                     body: JobCreate) -> JobStatus:
    """An ingest job takes items; the other kinds are the work of a task (routes/tasks.py)."""
    await _require_job_scope(conn, scope, body.kind, body.params)
    if body.kind == "ingest":
        job_id = await jobs.create_job(conn, body.source, actor)
    else:
        job_id = await tasks.create_task_job(conn, body.kind, body.params, body.source, actor)
    return await jobs.job_status(conn, job_id)


async def _require_job_scope(conn: ConnectionDep, scope: access.Scope, kind: str,
                             params: dict[str, Any]) -> None:
    """Ingest and archive jobs store into the default project; a suggestions refresh writes the
    suggestions of its project (of every project, without one; an incremental run only follows
    label writes already allowed); a reconcile compares everything."""
    if kind in ("ingest", "archive"):
        scope.require(DEFAULT_PROJECT_ID, "annotator", "a job (its items go into the project)")
    elif kind == "reconcile":
        scope.caller.require_admin("a reconcile job")
    elif isinstance(params.get("project"), int):
        scope.require(params["project"], "annotator", "refreshing the suggestions")
    elif params.get("mode") != "incremental":
        await access.require_in_every_project(conn, scope, "annotator",
                                              "refreshing the suggestions of every project")


@router.get("")
async def list_jobs(
    conn: ConnectionDep,
    scope: ScopeDep,
    running: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> JobList:
    return JobList(data=await jobs.list_jobs(conn, running, limit, scope))


@router.post("/{job_id}/items")
async def add_items(
    conn: ConnectionDep,
    settings: SettingsDep,
    staging: StagingDep,
    job_id: int,
    files: Annotated[list[UploadFile] | None, File()] = None,
    items: Annotated[Text | None, Form(description="JSON list, one UploadEntry per file")] = None,
    refused: Annotated[Text | None, Form(description="JSON list of {source, reason}")] = None,
    actor: ActorDep = None,
    caller: CallerDep = access.SERVICE,
    scope: ScopeDep = access.UNBOUND,
) -> JobItemsAdded:
    """Stage every file's bytes, then record all items at once; bad input stores nothing. An
    entry is checked by the rules of the store the worker sends it to, so an item the store
    would refuse is refused now, not later. A request refused for what it holds closes the job
    with that reason (jobs.fail_intake); what it staged is deleted again. Only the job's
    creator or an admin adds items, and only where they may annotate the default project."""
    await jobs.require_owner(conn, job_id, caller, "adding items to")
    scope.require(DEFAULT_PROJECT_ID, "annotator", "adding items (they go into the project)")
    try:
        new, payloads = await _intake(settings, files or [], items, refused)
        if new:
            await jobs.add_items(
                conn, job_id, new, lambda: anyio.to_thread.run_sync(_stage, staging, payloads),
                lambda sha256s: anyio.to_thread.run_sync(_unstage, staging, sha256s))
    except (InvalidMetadata, ImageTooLarge) as refusal:
        await jobs.fail_intake(conn, job_id, actor, refusal.detail)
        raise
    return JobItemsAdded(accepted=len(payloads), refused=len(new) - len(payloads))


async def _intake(settings: CatalogSettings, files: list[UploadFile], items: str | None,
                  refused: str | None) -> tuple[list[jobs.NewItem], list[tuple[str, bytes]]]:
    """The items a request sends, and the bytes to stage (sha256, data)."""
    entries = job_entries("items", items) or [UploadEntry() for _ in files]
    if len(entries) != len(files):
        raise InvalidMetadata(f"items has {len(entries)} entries for {len(files)} files")
    new: list[jobs.NewItem] = []
    payloads: list[tuple[str, bytes]] = []
    for position, (upload, entry) in enumerate(zip(files, entries, strict=True)):
        if upload.filename and (problem := line_problem(upload.filename)):
            raise InvalidMetadata(f"files[{position}].filename: {problem}")
        source = entry.source or entry.filename or f"item {position}"
        data = await upload.read(settings.max_image_bytes + 1)
        if len(data) > settings.max_image_bytes:
            raise ImageTooLarge(f"{source}: over the limit of {settings.max_image_bytes} bytes")
        filename = entry.filename or upload.filename
        if not data:
            new.append(jobs.NewItem(None, filename, source, jobs.item_fields(entry), "empty file"))
            continue
        sha256 = hashlib.sha256(data).hexdigest()
        payloads.append((sha256, data))
        new.append(jobs.NewItem(sha256, filename, source, jobs.item_fields(entry)))
    for position, entry in enumerate(json_list("refused", refused)):
        if not isinstance(entry, dict) or not entry.get("source") or not entry.get("reason"):
            raise InvalidMetadata(f"refused[{position}] needs source and reason")
        source = str(entry["source"])[:4000]
        if problem := line_problem(source):
            raise InvalidMetadata(f"refused[{position}].source: {problem}")
        new.append(jobs.NewItem(None, None, source, {}, scrub(str(entry["reason"]))[:2000]))
    return new, payloads


def _stage(staging: StagingStore, payloads: list[tuple[str, bytes]]) -> None:
    for sha256, data in payloads:
        staging.write(sha256, data)


def _unstage(staging: StagingStore, sha256s: list[str]) -> None:
    for sha256 in sha256s:
        staging.delete(sha256)


@router.post("/{job_id}/close")
async def close_job(conn: ConnectionDep, caller: CallerDep, job_id: int) -> JobStatus:
    await jobs.require_owner(conn, job_id, caller, "closing")
    await jobs.close_job(conn, job_id)
    return await jobs.job_status(conn, job_id)


@router.get("/{job_id}")
async def get_job(conn: ConnectionDep, scope: ScopeDep, job_id: int) -> JobStatus:
    await jobs.require_visible(conn, job_id, scope)
    return await jobs.job_status(conn, job_id)


# Unset: an item's `data` is answered only when the claim asks `with_data`.
@router.post("/claim", response_model_exclude_unset=True)
async def claim(conn: ConnectionDep, staging: StagingDep, settings: SettingsDep,
                body: ClaimRequest) -> ClaimedItems:
    items = await jobs.claim_items(conn, body.limit, body.lease_s, settings.max_item_claims)
    if body.with_data:
        staged = await anyio.to_thread.run_sync(_read_staged, staging, items)
        for item, data in zip(items, staged, strict=True):
            item.data = data  # None: no staged bytes; /items/{id}/data says why
    return ClaimedItems(data=items)


def _read_staged(staging: StagingStore, items: list[ClaimedItem]) -> list[str | None]:
    encoded: list[str | None] = []
    for item in items:
        path = staging.path(item.sha256) if item.sha256 else None
        try:
            encoded.append(base64.b64encode(path.read_bytes()).decode() if path else None)
        except OSError:
            encoded.append(None)
    return encoded


@router.get("/items/{item_id}/data", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}}})
async def item_data(conn: ConnectionDep, staging: StagingDep, item_id: int) -> FileResponse:
    sha256 = await jobs.item_sha256(conn, item_id)
    if sha256 is None:
        raise jobs.JobNotFound(f"item {item_id} not found or has no bytes")
    path = staging.path(sha256)
    if not path.is_file():
        raise StagedBytesGone(f"the staged bytes of item {item_id} are missing: send the file again")
    return FileResponse(path, media_type="application/octet-stream")


@router.post("/items/results")
async def results(conn: ConnectionDep, staging: StagingDep, body: ItemResults) -> ResultsRecorded:
    updated = await jobs.record_results(conn, body.results)

    released = await jobs.release_staged(
        conn, [r.id for r in body.results if r.outcome == "done"],
        lambda sha256s: anyio.to_thread.run_sync(_unstage, staging, sha256s))
    return ResultsRecorded(updated=updated, released=released)
