"""/api/v1/jobs: durable ingest jobs. Items are recorded by the catalog and indexed by workers."""

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from pydantic import ValidationError

from gateway.auth import Annotator, Viewer
from gateway.deps import DownstreamDep, SettingsDep
from gateway.ingest import CHUNK_BYTES, UploadTooLarge, filename_problem, read_limited
from gateway.routes.common import blank_to_none
from nauplius.core.clients import Downstream, FilePart
from nauplius.core.contracts.catalog import JobItemsAdded, JobList, JobStatus, UploadEntry
from nauplius.core.contracts.text import Line, Text
from nauplius.core.errors import DownstreamError
from nauplius.core.taxa import ensure_taxa

log = logging.getLogger("nauplius.gateway")

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

OptionalForm = Annotated[Line | None, Form()]
# A JSON text: tabs and line breaks between its tokens are its own.
JsonForm = Annotated[Text | None, Form()]
CHUNK = 256  # files per catalog call


async def _archive_chunks(archive: UploadFile) -> AsyncIterator[bytes]:
    """The upload as it was spooled, a piece at a time: the catalog enforces its size limit."""
    while chunk := await archive.read(CHUNK_BYTES):
        yield chunk


async def _send(downstream: Downstream, job_id: int, parts: list[FilePart],
                entries: list[dict[str, Any]], refused: list[dict[str, Any]]) -> None:
    for start in range(0, max(len(parts), 1), CHUNK):
        await downstream.catalog.add_job_items(
            job_id, parts[start:start + CHUNK], entries[start:start + CHUNK],
            refused if start == 0 else [])


def _json_list(name: str, text: str | None) -> list[Any] | None:
    """A form field holding a JSON list (None when absent); anything else is the caller's 422."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise HTTPException(422, f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise HTTPException(422, f"{name} must be a JSON list of objects")
    return value


async def _read_files(files: list[UploadFile], entries: list[dict[str, Any]], limit: int
                      ) -> tuple[list[FilePart], list[dict[str, Any]], list[dict[str, str]]]:
    """Each file with its entry; a file over the limit becomes a refused source instead."""
    parts, kept, refused = [], [], []
    for position, (upload, entry) in enumerate(zip(files, entries, strict=True)):
        if problem := filename_problem(upload):
            raise HTTPException(422, f"files[{position}]: {problem}")
        name = upload.filename or "upload"
        try:
            data = await read_limited(upload, limit)
        except UploadTooLarge:
            refused.append({"source": entry.get("source") or name,
                            "reason": f"file too large: more than {limit} bytes"})
            continue
        parts.append(FilePart(name, "application/octet-stream", data))
        kept.append({"filename": name, **{k: v for k, v in entry.items() if v is not None}})
    return parts, kept, refused


def _entries_for(files: list[UploadFile], items: str | None) -> list[dict[str, Any]]:
    entries = _json_list("items", items)
    if entries is None:
        return [{} for _ in files]
    if len(entries) != len(files):
        raise HTTPException(422, f"items has {len(entries)} entries for {len(files)} files")
    for position, entry in enumerate(entries):
        _check_entry(entry, f"items[{position}]")
    return entries


def _check_entry(entry: dict[str, Any], where: str) -> None:
    """An entry by the contract the catalog holds it to, before a job or a taxon is made for it
    (the catalog checks again: what only it knows, such as a job item's fields)."""
    try:
        UploadEntry.model_validate(entry)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join([where, *(str(part) for part in problem["loc"])])
        raise HTTPException(422, f"{field}: {problem['msg'].removeprefix('Value error, ')}") from None


@router.post("", status_code=201, response_model=JobStatus)
async def create_job(
    downstream: DownstreamDep,
    settings: SettingsDep,
    principal: Annotator,
    files: Annotated[list[UploadFile] | None, File(description="images; repeat the field")] = None,
    archive: Annotated[UploadFile | None, File(description="a zip or tar archive")] = None,
    items: JsonForm = None,
    label: OptionalForm = None,
    instrument: OptionalForm = None,
    sample: OptionalForm = None,
    label_from_folder: Annotated[bool, Form()] = False,
    keep_open: Annotated[bool, Form()] = False,
) -> JobStatus:
    """Record every file (or every image of the archive) as a job item, answer the job at once."""
    files = files or []
    parts, entries, refused = await _read_files(files, _entries_for(files, items),
                                                settings.max_upload_bytes)
    if not parts and not refused and not keep_open and archive is None:
        raise HTTPException(422, "no files: send `files` (repeatable) or an `archive`")
    defaults = {"label": blank_to_none(label), "instrument": blank_to_none(instrument),
                "sample": blank_to_none(sample)}
    for entry in entries:
        for key, value in defaults.items():
            if value is not None and not entry.get(key):
                entry[key] = value
    if principal.may("admin"):  # as on /images: an admin's labels add their taxa
        await ensure_taxa(downstream.catalog, (e.get("label") for e in entries), principal.annotator_id)
    if archive is not None:
        # The worker unpacks it (a job task) and closes the job unless it is to stay open.
        params = {"filename": archive.filename, "label_from_folder": label_from_folder,
                  "create_taxa": principal.may("admin"), "close": not keep_open, **defaults}
        job = await downstream.catalog.create_task_job("archive", params, archive.filename,
                                                       actor=principal.annotator_id)
        await _send(downstream, job.id, parts, entries, refused)
        await downstream.catalog.upload_archive(job.id, _archive_chunks(archive))
        return await downstream.catalog.job(job.id)
    job = await downstream.catalog.create_job(None, actor=principal.annotator_id)
    try:
        await _send(downstream, job.id, parts, entries, refused)
    except DownstreamError:
        if not keep_open:  # nobody else can close it: the caller never learns its id
            await _close_quietly(downstream, job.id)
        raise
    if not keep_open:
        return await downstream.catalog.close_job(job.id)
    return await downstream.catalog.job(job.id)


async def _close_quietly(downstream: Downstream, job_id: int) -> None:
    """Close a job whose intake failed (the catalog fails it itself when it refused the items);
    the failure the caller hears of is the intake's, not this one's."""
    try:
        await downstream.catalog.close_job(job_id)
    except DownstreamError as exc:
        log.warning("job %d left open after its intake failed: %s", job_id, exc.detail)


@router.post("/{job_id}/items", response_model=JobItemsAdded)
async def add_items(
    job_id: int,
    downstream: DownstreamDep,
    settings: SettingsDep,
    principal: Annotator,
    files: Annotated[list[UploadFile] | None, File()] = None,
    items: JsonForm = None,
    refused: JsonForm = None,
) -> JobItemsAdded:
    """More items for a job created with keep_open=true (the CLI sends a large drop in parts)."""
    files = files or []
    parts, entries, too_large = await _read_files(files, _entries_for(files, items),
                                                  settings.max_upload_bytes)
    if principal.may("admin"):
        await ensure_taxa(downstream.catalog, (e.get("label") for e in entries), principal.annotator_id)
    return await downstream.catalog.add_job_items(
        job_id, parts, entries, (_json_list("refused", refused) or []) + too_large)


@router.post("/{job_id}/close", response_model=JobStatus)
async def close_job(job_id: int, downstream: DownstreamDep, _: Annotator) -> JobStatus:
    return await downstream.catalog.close_job(job_id)


@router.get("", response_model=JobList)
async def list_jobs(
    downstream: DownstreamDep,
    _: Viewer,
    running: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> JobList:
    return await downstream.catalog.list_jobs(running, limit)


@router.get("/{job_id}", response_model=JobStatus)
async def get_job(job_id: int, downstream: DownstreamDep, _: Viewer) -> JobStatus:
    return await downstream.catalog.job(job_id)
