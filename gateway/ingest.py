"""Synchronous uploads: size check, sha256, then the shared pipeline (nauplius.core.pipeline)."""

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import UploadFile

from nauplius.core.active_model import ActiveModel
from nauplius.core.clients import Downstream, FilePart
from nauplius.core.contracts.text import line_problem
from nauplius.core.pipeline import Content, index_contents

log = logging.getLogger("nauplius.gateway")

CHUNK_BYTES = 1024 * 1024


@dataclass
class FileOutcome:
    """What became of one uploaded file; serialised as one entry of the answer's `data`."""

    id: int | None = None
    sha256: str | None = None
    duplicate: bool = False
    error: str | None = None
    too_large: bool = False

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "sha256": self.sha256, "duplicate": self.duplicate, "error": self.error}

    @property
    def accepted(self) -> bool:
        return self.id is not None and self.error is None


@dataclass(frozen=True)
class UploadMeta:
    label: str | None = None
    instrument: str | None = None
    sample: str | None = None
    project: int | None = None
    # Who uploads (an annotator id; None with auth off) and whether an unknown label may
    # be added to the taxonomy (admins only).
    actor: int | None = None
    create_taxon: bool = False


class UploadTooLarge(Exception):
    pass


def filename_problem(upload: UploadFile) -> str | None:
    """Why an upload's filename cannot be stored (nauplius.core.contracts.text), or None."""
    problem = line_problem(upload.filename) if upload.filename else None
    return None if problem is None else f"filename {problem}"


async def read_limited(upload: UploadFile, limit: int) -> bytes:
    """Read an upload in chunks, holding at most limit + 1 bytes; raise UploadTooLarge past limit."""
    chunks: list[bytes] = []
    total = 0
    while chunk := await upload.read(min(CHUNK_BYTES, limit + 1 - total)):
        total += len(chunk)
        if total > limit:
            raise UploadTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_batch(
    files: list[UploadFile], limit: int, outcomes: list[FileOutcome], meta: UploadMeta
) -> dict[str, Content]:
    fields = {
        "instrument": meta.instrument, "sample": meta.sample, "label": meta.label,
        "project_id": meta.project,
        "create_taxon": meta.create_taxon or None,
    }
    contents: dict[str, Content] = {}
    for position, upload in enumerate(files):
        outcome = outcomes[position]
        if problem := filename_problem(upload):
            outcome.error = problem
            continue
        try:
            data = await read_limited(upload, limit)
        except UploadTooLarge:
            outcome.error = f"file too large: more than {limit} bytes"
            outcome.too_large = True
            continue
        if not data:
            outcome.error = "empty file"
            continue
        sha256 = hashlib.sha256(data).hexdigest()
        outcome.sha256 = sha256
        if sha256 not in contents:
            part = FilePart(
                filename=upload.filename or "upload",
                content_type=upload.content_type or "application/octet-stream",
                data=data,
            )
            contents[sha256] = Content(part, sha256, fields, actor=meta.actor)
        contents[sha256].positions.append(position)
    return contents


async def ingest_batch(
    files: list[UploadFile],
    meta: UploadMeta,
    downstream: Downstream,
    active_model: ActiveModel,
    *,
    max_upload_bytes: int,
    concurrency: int,
) -> list[FileOutcome]:
    outcomes = [FileOutcome() for _ in files]
    contents = list((await _read_batch(files, max_upload_bytes, outcomes, meta)).values())
    if not contents:  # a batch refused outright never reaches embedder or search
        return outcomes
    await index_contents(contents, downstream, await active_model.get(), concurrency,
                         also=active_model.written)

    for content in contents:
        for n, position in enumerate(content.positions):
            outcome = outcomes[position]
            if content.error is not None:
                outcome.error = content.error
                continue
            assert content.image is not None
            outcome.id = content.image.id
            # A second copy of the same bytes within one batch is a duplicate of the first.
            outcome.duplicate = content.duplicate or n > 0
    return outcomes
