"""The task of an `archive` job: the gateway staged the uploaded archive in the catalog; here it is
copied to a temporary file, unpacked within one budget for the upload and every archive nested in
it (`nauplius.formats.budget`), and its images become the job's items (sent in chunks, as
`nauplius ingest` sends files). Whatever cannot be read, a member, a ROI, a row or the whole
archive, is a refused item with its reason. Then the job closes."""

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio

from nauplius.core.clients.catalog import CatalogClient
from nauplius.core.contracts.catalog import ClaimedTask
from nauplius.core.jobs import Progress
from nauplius.core.taxa import ensure_taxa
from nauplius.formats.budget import UploadLimits
from nauplius.formats.discover import read_archive
from nauplius.formats.items import IngestItem, Refused
from nauplius.formats.wire import split_found

CHUNK = 256  # items per catalog call
CHUNK_BYTES = 64 * 1024 * 1024  # and at most about this many bytes of images held and sent


Found = IngestItem | Refused


def _chunks(found: Iterator[Found]) -> Iterator[list[Found]]:
    chunk: list[Found] = []
    size = 0
    for thing in found:
        chunk.append(thing)
        size += len(thing.data) if isinstance(thing, IngestItem) else 0
        if len(chunk) == CHUNK or size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


async def unpack_archive_job(catalog: CatalogClient, task: ClaimedTask, progress: Progress,
                             limits: UploadLimits | None = None) -> dict[str, Any]:
    job_id, params = task.id, task.params
    # A retried task skips what an earlier attempt already recorded.
    already = task.progress_done
    defaults = {key: params.get(key) for key in ("label", "instrument", "sample")}
    sent = refused = 0
    with tempfile.TemporaryDirectory(prefix="nauplius-archive-") as folder:
        path = Path(folder) / (Path(params.get("filename") or "upload.zip").name or "upload.zip")
        await catalog.download_archive(job_id, path)
        found = read_archive(path, bool(params.get("label_from_folder")), limits)
        chunks = _chunks(found)
        while chunk := await anyio.to_thread.run_sync(next, chunks, None):
            position = sent + refused
            if position + len(chunk) <= already:
                sent += sum(isinstance(f, IngestItem) for f in chunk)
                refused += sum(isinstance(f, Refused) for f in chunk)
                continue
            parts, entries, not_read = split_found(chunk)
            for entry in entries:
                for key, value in defaults.items():
                    if value is not None and not entry.get(key):
                        entry[key] = value
            if params.get("create_taxa"):
                await ensure_taxa(catalog, (e.get("label") for e in entries), task.created_by)
            await catalog.add_job_items(job_id, parts, entries, not_read)
            sent += len(parts)
            refused += len(not_read)
            await progress(position + len(chunk), None)
    if params.get("close", True):
        await catalog.close_job(job_id)
    return {"items": sent, "refused": refused}
