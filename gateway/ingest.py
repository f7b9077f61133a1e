"""The upload pipeline: size check, sha256, dedupe, embed, store, index, mark indexed."""

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import UploadFile

from gateway.active_model import ActiveModel
from gateway.clients import Downstream, FilePart
from gateway.errors import DownstreamRejected

log = logging.getLogger("nauplius.gateway")

CHUNK_BYTES = 1024 * 1024
T = TypeVar("T")
R = TypeVar("R")


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


@dataclass
class _Content:
    """One distinct content (sha256) of the batch and the positions of the files that carry it."""

    part: FilePart
    sha256: str
    positions: list[int] = field(default_factory=list)
    image: dict[str, Any] | None = None
    duplicate: bool = False
    vector: list[float] | None = None
    error: str | None = None


class UploadTooLarge(Exception):
    pass


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


async def _bounded(limit: int, items: Iterable[T], call: Callable[[T], Awaitable[R]]) -> list[R]:
    """Run call over items with at most `limit` in flight; the first failure cancels the rest."""
    semaphore = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with semaphore:
            return await call(item)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(item)) for item in items]
    except ExceptionGroup as failures:
        # Callers (and the HTTP error handlers) expect the single downstream error, not a group.
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]


async def _read_batch(
    files: list[UploadFile], limit: int, outcomes: list[FileOutcome]
) -> dict[str, _Content]:
    contents: dict[str, _Content] = {}
    for position, upload in enumerate(files):
        outcome = outcomes[position]
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
            contents[sha256] = _Content(part, sha256)
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
    contents = list((await _read_batch(files, max_upload_bytes, outcomes)).values())
    if not contents:  # a batch refused outright never reaches embedder or search
        return outcomes
    catalog = downstream.catalog
    model = await active_model.get()

    known = await _bounded(concurrency, contents, lambda c: catalog.by_sha256(c.sha256))
    to_embed: list[_Content] = []
    for content, image in zip(contents, known):
        if image is not None:
            content.image, content.duplicate = image, True
        # Known but not indexed in this model's collection (a crash between steps, or a new
        # model): embed and index it again.
        if image is None or image.get("indexed_model") != model.name:
            to_embed.append(content)

    if to_embed:
        results = await downstream.embedder.embed([c.part for c in to_embed])
        for content, result in zip(to_embed, results):
            if result.vector is None:
                content.error = result.error or "could not be embedded"
            else:
                content.vector = result.vector

    to_store = [c for c in to_embed if c.vector is not None and c.image is None]
    await _bounded(concurrency, to_store, lambda c: _store(downstream, c, meta))

    to_index = [c for c in to_embed if c.vector is not None and c.image is not None]
    if to_index:
        points = [{"id": c.image["id"], "vector": c.vector, "payload": _payload(c.image)}
                  for c in to_index]
        await downstream.search.upsert(model.name, points)
        await _bounded(concurrency, to_index, lambda c: catalog.mark_indexed(c.image["id"], model.name))
        log.info("indexed %d images in %s", len(points), model.name)

    for content in contents:
        for n, position in enumerate(content.positions):
            outcome = outcomes[position]
            if content.error is not None:
                outcome.error = content.error
                continue
            assert content.image is not None
            outcome.id = content.image["id"]
            # A second copy of the same bytes within one batch is a duplicate of the first.
            outcome.duplicate = content.duplicate or n > 0
    return outcomes


async def _store(downstream: Downstream, content: _Content, meta: UploadMeta) -> None:
    fields = {
        "filename": content.part.filename,
        "instrument": meta.instrument,
        "sample": meta.sample,
        "label": meta.label,
        "annotator": "upload",
    }
    try:
        stored = await downstream.catalog.store(content.part, fields)
    except DownstreamRejected as exc:
        content.error = f"refused by catalog: {exc.detail}"
        return
    content.image, content.duplicate = stored.image, stored.duplicate


def _payload(image: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": image.get("label"),
        "state": image.get("label_state"),
        "instrument": image.get("instrument"),
        "sample": image.get("sample"),
    }
