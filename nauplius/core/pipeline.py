"""The indexing pipeline shared by the upload route and the ingest worker.

sha256-distinct contents -> catalog lookup (known and indexed in the active model: duplicate,
done) -> embedder in one batch -> catalog store (per-content fields) -> one search upsert ->
catalog marks indexed. A content known but not indexed in this model is embedded and indexed again.
Other model versions being filled or kept complete (`also`) get each newly indexed content too,
before the catalog marks it indexed. They are asked for after the catalog stored the content: a
version that began filling before then either finds the row in its re-embed or is named here.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nauplius.core.active_model import ModelCard
from nauplius.core.clients import Downstream, FilePart
from nauplius.core.contracts.catalog import ImagePublic
from nauplius.core.contracts.search import PointIn
from nauplius.core.errors import DownstreamRejected
from nauplius.core.index_sync import payload_of

log = logging.getLogger("nauplius.core")

# Files per catalog store request: one request and one multipart parse per batch, not per image.
STORE_BATCH = 16

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Content:
    """One distinct content (sha256) and what the catalog is to store with it."""

    part: FilePart
    sha256: str
    fields: dict[str, Any] = field(default_factory=dict)  # catalog form fields, None = absent
    positions: list[int] = field(default_factory=list)  # of the files or items carrying it
    image: ImagePublic | None = None
    duplicate: bool = False
    vector_b64: str | None = None  # float32 bytes in base64, as the embedder gave them
    error: str | None = None
    actor: int | None = None  # the annotator who uploads it (recorded as the label's writer)


async def bounded(limit: int, items: Iterable[T], call: Callable[[T], Awaitable[R]]) -> list[R]:
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


async def index_contents(
    contents: list[Content], downstream: Downstream, model: ModelCard, concurrency: int,
    reindex: bool = False, also: Callable[[], Awaitable[Sequence[ModelCard]]] | None = None,
) -> None:
    """Settle each content: `.image` (and `.duplicate`) on success, `.error` when refused.
    Downstream outages raise (DownstreamError) so the caller can answer or retry. `reindex`
    embeds known contents even where the catalog says they are indexed (a lost vector); `also`
    answers the model versions each indexed content goes to besides `model` (ActiveModel.written:
    `model` itself, if among them, is left out)."""
    if not contents:
        return
    catalog = downstream.catalog
    known = await catalog.by_sha256_many([c.sha256 for c in contents])
    to_embed: list[Content] = []
    for content in contents:
        image = known.get(content.sha256)
        if image is not None:
            content.image, content.duplicate = image, True
        if reindex or image is None or image.indexed_model != model.name:
            to_embed.append(content)

    if to_embed:
        results = await downstream.embedder.embed([c.part for c in to_embed], encoding="base64",
                                                  model=model.name)
        for content, result in zip(to_embed, results, strict=True):
            if result.vector_b64 is None:
                content.error = result.error or "could not be embedded"
            else:
                content.vector_b64 = result.vector_b64

    to_store = [c for c in to_embed if c.vector_b64 is not None and c.image is None]
    by_actor: dict[int | None, list[Content]] = {}
    for content in to_store:
        by_actor.setdefault(content.actor, []).append(content)
    chunks = [(actor, group[start:start + STORE_BATCH]) for actor, group in by_actor.items()
              for start in range(0, len(group), STORE_BATCH)]
    await bounded(concurrency, chunks, lambda chunk: _store(downstream, *chunk))

    to_index = [(c.image, c.vector_b64) for c in to_embed
                if c.image is not None and c.vector_b64 is not None]
    if to_index:
        points = [PointIn(id=image.id, vector_b64=vector_b64, payload=payload_of(image))
                  for image, vector_b64 in to_index]
        await downstream.search.upsert(model.name, points)
        others = [m for m in (await also() if also else ()) if m.name != model.name]
        for other in others:
            await _index_in(downstream, other, [c for c in to_embed if c.image is not None
                                                and c.vector_b64 is not None])
        await catalog.mark_indexed_many([image.id for image, _ in to_index], model.name)
        log.info("indexed %d images in %s", len(points), model.name)


async def _index_in(downstream: Downstream, model: ModelCard, contents: list[Content]) -> None:
    """These contents embedded by another model version and upserted into its collection. A
    content that version refuses (the active one took it) is left to its re-embed, logged; so
    is the batch when the collection is gone (the version was retired since it was resolved)."""
    results = await downstream.embedder.embed([c.part for c in contents], encoding="base64",
                                              model=model.name)
    points = []
    for content, result in zip(contents, results, strict=True):
        assert content.image is not None
        if result.vector_b64 is None:
            log.warning("image %d not indexed in %s: %s", content.image.id, model.name, result.error)
            continue
        points.append(PointIn(id=content.image.id, vector_b64=result.vector_b64,
                              payload=payload_of(content.image)))
    if not points:
        return
    try:
        await downstream.search.upsert(model.name, points)
    except DownstreamRejected as exc:
        if exc.status_code != 404:
            raise
        log.warning("%d images not indexed in %s: %s", len(points), model.name, exc.detail)


async def _store(downstream: Downstream, actor: int | None, contents: list[Content]) -> None:
    files = [(c.part, {"filename": c.part.filename, "annotator": "upload", **c.fields})
             for c in contents]
    results = await downstream.catalog.store_many(files, actor=actor)
    for content, result in zip(contents, results, strict=True):
        if isinstance(result, str):
            content.error = f"refused by catalog: {result}"
        else:
            content.image, content.duplicate = result.image, result.duplicate
