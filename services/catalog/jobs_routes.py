"""Internal /v1/jobs API: record ingest jobs and their items, let workers claim and settle them."""

import base64
import hashlib
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from services.catalog import jobs
from services.catalog.deps import ActorDep, ConnectionDep, SettingsDep
from services.catalog.errors import ImageTooLarge, InvalidMetadata, StoredFileMissing
from services.catalog.form_fields import UploadFields, json_list, text_field
from services.catalog.staging import StagingStore

router = APIRouter(prefix="/v1/jobs")


class JobCreate(BaseModel):
    source: str | None = Field(default=None, max_length=1000)


class ClaimRequest(BaseModel):
    limit: int = Field(default=32, ge=1, le=1000)
    lease_s: float = Field(default=120.0, gt=0, le=86400)
    # The staged bytes inline (base64 `data`), saving the worker one request per item.
    with_data: bool = False


class ResultIn(BaseModel):
    id: int
    outcome: Literal["done", "retry", "failed"]
    image_id: int | None = None
    error: str | None = Field(default=None, max_length=2000)
    retry_after_s: float = Field(default=0.0, ge=0, le=3600)


class ResultsIn(BaseModel):
    results: list[ResultIn] = Field(max_length=10_000)


def _staging(request: Request) -> StagingStore:
    return StagingStore(request.app.state.settings.data_dir)


# What a job item may carry for the store; other keys of an entry are ignored.
JOB_ITEM_FIELDS = ("filename", "label", "label_state", "instrument", "sample", "captured_at",
                   "metadata")


def _item_fields(raw: Any, position: int) -> tuple[str | None, str, dict[str, Any]]:
    """(filename, source, fields) of one file's entry, checked by the very code the store the
    worker sends it to runs, so an item the store would refuse is refused now, not later."""
    where = f"items[{position}]"
    if not isinstance(raw, dict):
        raise InvalidMetadata(f"{where} must be a JSON object")
    source = text_field(f"{where}.source", raw.get("source"), max_length=4000)
    item = UploadFields.from_entry({key: raw[key] for key in JOB_ITEM_FIELDS if key in raw},
                                   where, None).checked(where)
    fields: dict[str, Any] = {key: value for key in ("label", "instrument", "sample")
                              if (value := getattr(item, key)) is not None}
    if "label" in fields and raw.get("label_state") is not None:
        fields["label_state"] = item.label_state
    if item.captured_at is not None:
        fields["captured_at"] = item.captured_at.isoformat()
    fields["metadata"] = item.metadata
    return item.filename, source or item.filename or f"item {position}", fields


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_job(conn: ConnectionDep, actor: ActorDep, body: JobCreate) -> dict[str, Any]:
    return await jobs.job_status(conn, await jobs.create_job(conn, body.source, actor))


@router.get("")
async def list_jobs(
    conn: ConnectionDep,
    running: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    return {"data": await jobs.list_jobs(conn, running, limit)}


@router.post("/{job_id}/items")
async def add_items(
    conn: ConnectionDep,
    settings: SettingsDep,
    request: Request,
    job_id: int,
    files: Annotated[list[UploadFile] | None, File()] = None,
    items: Annotated[str | None, Form(description="JSON list, one object per file")] = None,
    refused: Annotated[str | None, Form(description="JSON list of {source, reason}")] = None,
) -> dict[str, Any]:
    """Stage every file's bytes, then record all items at once; bad input stores nothing."""
    files = files or []
    entries = json_list("items", items) or [{} for _ in files]
    if len(entries) != len(files):
        raise InvalidMetadata(f"items has {len(entries)} entries for {len(files)} files")
    new: list[jobs.NewItem] = []
    payloads: list[tuple[str, bytes]] = []
    for position, (upload, entry) in enumerate(zip(files, entries)):
        filename, source, fields = _item_fields(entry, position)
        data = await upload.read(settings.max_image_bytes + 1)
        if len(data) > settings.max_image_bytes:
            raise ImageTooLarge(f"{source}: over the limit of {settings.max_image_bytes} bytes")
        filename = filename or upload.filename
        if not data:
            new.append(jobs.NewItem(None, filename, source, fields, "empty file"))
            continue
        sha256 = hashlib.sha256(data).hexdigest()
        payloads.append((sha256, data))
        new.append(jobs.NewItem(sha256, filename, source, fields))
    for position, entry in enumerate(json_list("refused", refused)):
        if not isinstance(entry, dict) or not entry.get("source") or not entry.get("reason"):
            raise InvalidMetadata(f"refused[{position}] needs source and reason")
        new.append(jobs.NewItem(None, None, str(entry["source"])[:4000], {},
                                str(entry["reason"])[:2000]))
    staging = _staging(request)

    def stage_all() -> None:
        for sha256, data in payloads:
            staging.write(sha256, data)

    if new:
        await jobs.add_items(conn, job_id, new, lambda: anyio.to_thread.run_sync(stage_all))
    return {"accepted": len(payloads), "refused": len(new) - len(payloads)}


@router.post("/{job_id}/close")
async def close_job(conn: ConnectionDep, job_id: int) -> dict[str, Any]:
    await jobs.close_job(conn, job_id)
    return await jobs.job_status(conn, job_id)


@router.get("/{job_id}")
async def get_job(conn: ConnectionDep, job_id: int) -> dict[str, Any]:
    return await jobs.job_status(conn, job_id)


@router.post("/claim")
async def claim(conn: ConnectionDep, request: Request, body: ClaimRequest) -> dict[str, Any]:
    items = await jobs.claim_items(conn, body.limit, body.lease_s)
    if body.with_data:
        staging = _staging(request)
        for item, data in zip(items, await anyio.to_thread.run_sync(_read_staged, staging, items)):
            item["data"] = data  # None: no staged bytes; /items/{id}/data says why
    return {"data": items}


def _read_staged(staging: StagingStore, items: list[dict[str, Any]]) -> list[str | None]:
    encoded: list[str | None] = []
    for item in items:
        path = staging.path(item["sha256"]) if item.get("sha256") else None
        try:
            encoded.append(base64.b64encode(path.read_bytes()).decode() if path else None)
        except OSError:
            encoded.append(None)
    return encoded


@router.get("/items/{item_id}/data")
async def item_data(conn: ConnectionDep, request: Request, item_id: int) -> FileResponse:
    sha256 = await jobs.item_sha256(conn, item_id)
    if sha256 is None:
        raise jobs.JobNotFound(f"item {item_id} not found or has no bytes")
    path = _staging(request).path(sha256)
    if not path.is_file():
        raise StoredFileMissing(f"the staged bytes of item {item_id} are missing")
    return FileResponse(path, media_type="application/octet-stream")


@router.post("/items/results")
async def results(conn: ConnectionDep, request: Request, body: ResultsIn) -> dict[str, int]:
    settled = [jobs.ItemResult(r.id, r.outcome, r.image_id, r.error, r.retry_after_s)
               for r in body.results]
    updated = await jobs.record_results(conn, settled)
    staging = _staging(request)

    def delete(sha256s: list[str]) -> None:
        for sha256 in sha256s:
            staging.delete(sha256)

    released = await jobs.release_staged(
        conn, [r.id for r in settled if r.outcome == "done"],
        lambda sha256s: anyio.to_thread.run_sync(delete, sha256s))
    return {"updated": updated, "released": released}
