"""The task of a `reconcile` job: compare the catalog with the search index in both directions.

Both sides are read in id order, a page at a time, and merged: a stored image without a vector,
a vector without an image, and a point whose payload (label, state, instrument, sample, project)
differs from the catalog are each counted, and with `repair` mended: the image is embedded and
indexed again from its stored bytes, the stray point deleted, the payload rewritten.

The active model version's collection is the report's top level; every other complete version
(kept so that switching to it is instant) is compared and mended the same way, under `versions`.
A version still being filled is left to its re-embed.
"""

from collections.abc import AsyncIterator
from typing import Any, TypeVar

from nauplius.core.active_model import ModelCard, Versions
from nauplius.core.clients import Downstream, FilePart
from nauplius.core.contracts.catalog import IndexRow
from nauplius.core.contracts.search import StoredPoint
from nauplius.core.index_sync import apply_payloads, payload_of
from nauplius.core.jobs import Progress
from nauplius.core.pipeline import Content, index_contents
from services.worker.reembed import embed_into

PAGE = 1000
EXAMPLES = 20
CONCURRENCY = 8

T = TypeVar("T")


async def _catalog_rows(downstream: Downstream) -> AsyncIterator[IndexRow]:
    after: int | None = 0
    while after is not None:
        page = await downstream.catalog.index_rows(after, PAGE)
        for row in page.data:
            yield row
        after = page.next_after_id


async def _index_points(downstream: Downstream, model: str) -> AsyncIterator[StoredPoint]:
    after: int | None = None
    while True:
        page = await downstream.search.scroll(model, after, PAGE)
        for point in page.data:
            yield point
        if page.next_after_id is None:
            return
        after = page.next_after_id


async def _next(iterator: AsyncIterator[T]) -> T | None:
    return await anext(iterator, None)


class Findings:
    def __init__(self) -> None:
        self.missing_vectors: list[int] = []
        self.orphan_points: list[int] = []
        self.stale: list[IndexRow] = []  # catalog rows whose point disagrees
        self.stale_fields: dict[str, int] = {}

    def report(self, images: int, points: int) -> dict[str, Any]:
        return {
            "catalog_images": images, "index_points": points,
            "missing_vectors": len(self.missing_vectors),
            "orphan_points": len(self.orphan_points),
            "stale_payloads": len(self.stale), "stale_fields": self.stale_fields,
            "examples": {"missing_vectors": self.missing_vectors[:EXAMPLES],
                         "orphan_points": self.orphan_points[:EXAMPLES],
                         "stale_payloads": [row.id for row in self.stale[:EXAMPLES]]},
        }


async def compare(downstream: Downstream, model: str, progress: Progress, images: int,
                  points: int) -> Findings:
    """Both sides merged in id order; `images` and `points`, counted by the caller, size the
    progress."""
    total = images + points
    found = Findings()
    catalog, index = _catalog_rows(downstream), _index_points(downstream, model)
    row, point = await _next(catalog), await _next(index)
    seen = 0
    while row is not None or point is not None:
        if row is not None and (point is None or row.id < point.id):
            found.missing_vectors.append(row.id)
            row, seen = await _next(catalog), seen + 1
        elif point is not None and (row is None or point.id < row.id):
            found.orphan_points.append(point.id)
            point, seen = await _next(index), seen + 1
        else:
            assert row is not None and point is not None  # the same id on both sides
            expected = payload_of(row)
            differs = [key for key, value in expected.items() if point.payload.get(key) != value]
            if differs:
                found.stale.append(row)
                for key in differs:
                    found.stale_fields[key] = found.stale_fields.get(key, 0) + 1
            row, point, seen = await _next(catalog), await _next(index), seen + 2
        if seen % PAGE < 2:
            await progress(min(seen, total), total)
    return found


async def _reindex(downstream: Downstream, model: ModelCard, ids: list[int]) -> int:
    """Embed and index these stored images again from their bytes; how many succeeded."""
    done = 0
    for start in range(0, len(ids), 64):
        images = await downstream.catalog.lookup(ids[start:start + 64])
        contents = []
        for image in images:
            data = await downstream.catalog.image_bytes(image.id)
            part = FilePart(image.filename or "image", "application/octet-stream", data)
            contents.append(Content(part, image.sha256))
        await index_contents(contents, downstream, model, CONCURRENCY, reindex=True)
        done += sum(content.error is None for content in contents)
    return done


async def _reindex_kept(downstream: Downstream, model: ModelCard, ids: list[int]) -> int:
    """The same for a version other than the active one: its collection only (the catalog
    records which version an image is indexed in for the active one alone)."""
    done = 0
    for start in range(0, len(ids), 64):
        images = await downstream.catalog.lookup(ids[start:start + 64])
        embedded, _ = await embed_into(downstream, model, images, CONCURRENCY)
        done += embedded
    return done


async def _reconcile_one(downstream: Downstream, model: ModelCard, active: bool, repair: bool,
                         progress: Progress, images: int, points: int) -> dict[str, Any]:
    found = await compare(downstream, model.name, progress, images, points)
    report = found.report(images, points)
    report["repaired"] = None
    if repair:
        deleted = 0
        for start in range(0, len(found.orphan_points), PAGE):
            deleted += await downstream.search.delete(model.name,
                                                      found.orphan_points[start:start + PAGE])
        await apply_payloads(downstream.search, model.name, found.stale)
        reindex = _reindex if active else _reindex_kept
        report["repaired"] = {
            "reindexed": await reindex(downstream, model, found.missing_vectors),
            "deleted_points": deleted,
            "payloads": len(found.stale),
        }
    return report


async def reconcile(downstream: Downstream, versions: Versions, repair: bool,
                    progress: Progress) -> dict[str, Any]:
    """The active version's report, with `versions` holding every other complete one's (by
    name) and `filling` the names skipped. Progress counts rows and points of every version."""
    kept = [m for m in versions.others if m.name not in versions.filling]
    images = await downstream.catalog.count_images()
    counts = [await downstream.search.count(m.name) for m in (versions.active, *kept)]
    sizes = [images + points for points in counts]
    total, offset = sum(sizes), 0

    async def overall(done: int, _: int | None) -> None:
        await progress(min(offset + done, total), total)

    report = await _reconcile_one(downstream, versions.active, True, repair, overall, images,
                                  counts[0])
    others: dict[str, Any] = {}
    for model, points, before in zip(kept, counts[1:], sizes, strict=False):
        offset += before
        others[model.name] = await _reconcile_one(downstream, model, False, repair, overall,
                                                   images, points)
    return {**report, "model": versions.active.name, "versions": others,
            "filling": sorted(versions.filling)}
