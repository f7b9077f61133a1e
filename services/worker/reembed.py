"""The reembed job: every stored image embedded by another model version into that version's
collection, in id order (keyset), while search keeps answering from the active version.

Each point gets the payload the index sync writes (nauplius.core.index_sync.payload_of) from the
catalog row read before its embedding, and again from a second read after its upsert for any row
that changed meanwhile (a label change whose outbox entry reached the collection before the point
did finds nothing to update there). Progress (done/total and the last image id) is recorded on the
job and on the version after each batch, so a job claimed again after a restart goes on from its
last batch. The version is complete once a read past the last batch, a grace period after the
pass ran out of rows, finds nothing new: an ingest that began before the version was filling has
stored its rows by then, and every later one embeds into the filling version itself."""

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from nauplius.core.active_model import TTL_S, ActiveModel, ModelCard
from nauplius.core.clients import Downstream, FilePart
from nauplius.core.contracts.catalog import ClaimedTask, ImagePublic, IndexRow
from nauplius.core.contracts.models import ReembedProgress
from nauplius.core.contracts.search import PointIn
from nauplius.core.errors import DownstreamFailed, DownstreamRejected
from nauplius.core.index_sync import apply_payloads, payload_of
from nauplius.core.jobs import Progress
from nauplius.core.pipeline import bounded

log = logging.getLogger("nauplius.worker")

# Seconds between running out of rows and the last read: several times what a process may keep
# an old answer of the model versions (ActiveModel's TTL), and an ingest batch's own time.
GRACE_S = 5 * TTL_S


class ReembedRefused(Exception):
    """The job cannot run (on): its version is unknown, not served, active, retired, or filled by
    another job."""


class Reembed:
    def __init__(self, downstream: Downstream, active_model: ActiveModel, task: ClaimedTask,
                 progress: Progress, batch: int, concurrency: int, grace_s: float = GRACE_S) -> None:
        self.downstream = downstream
        self.active_model = active_model
        self.task = task
        self.progress = progress
        self.batch = batch
        self.concurrency = concurrency
        self.grace_s = grace_s
        self.embedded = 0
        self.skipped = 0

    async def run(self) -> dict[str, Any]:
        name = str(self.task.params.get("model"))
        model = await self._model(name)
        catalog = self.downstream.catalog
        recorded = {v.name: v for v in (await catalog.model_versions()).data}.get(name)
        if recorded is None or recorded.state != "filling" or recorded.job_id != self.task.id:
            raise ReembedRefused(f"model {name} is not being filled by job {self.task.id}")
        after, done = recorded.after_id, recorded.done
        total = max(await catalog.count_images(), done)
        if after:
            log.info("reembed of %s goes on after image %d (%d done)", name, after, done)
        await self._report(name, done, total, after)
        settled = False
        while True:
            page = await catalog.index_rows(after, self.batch)
            if not page.data:
                if settled:
                    break
                await asyncio.sleep(self.grace_s)
                settled = True
                continue
            settled = False
            await self._embed(model, page.data)
            after = page.data[-1].id
            done += len(page.data)
            total = max(total, done)
            await self._report(name, done, total, after)
        await self._report(name, done, done, after, complete=True)
        log.info("reembed of %s complete: %d images embedded, %d skipped", name, self.embedded,
                 self.skipped)
        return {"model": name, "embedded": self.embedded, "skipped": self.skipped, "total": done}

    async def _model(self, name: str) -> ModelCard:
        versions = await self.active_model.refresh()  # this version's collection ensured
        if versions.active.name == name:
            raise ReembedRefused(f"model {name} is the active version")
        for model in versions.others:
            if model.name == name:
                return model
        raise ReembedRefused(f"model {name} is not served by the embedder "
                             f"(EMBEDDER_MODEL_PATHS) or has no version in the catalog")

    async def _embed(self, model: ModelCard, rows: list[IndexRow]) -> None:
        embedded, skipped = await embed_into(self.downstream, model, rows, self.concurrency)
        self.embedded += embedded
        self.skipped += skipped

    async def _report(self, name: str, done: int, total: int, after: int,
                      complete: bool = False) -> None:
        """A refused report (the version retired, or re-filled by another job) stops the job."""
        try:
            await self.downstream.catalog.reembed_progress(name, ReembedProgress(
                job_id=self.task.id, done=done, total=total, after_id=after, complete=complete))
        except DownstreamRejected as exc:
            raise ReembedRefused(f"model {name} is no longer being filled by job "
                                 f"{self.task.id}: {exc.detail}") from exc
        await self.progress(done, total)


async def embed_into(downstream: Downstream, model: ModelCard, rows: Sequence[IndexRow | ImagePublic],
                     concurrency: int) -> tuple[int, int]:
    """These stored images embedded by `model` from their bytes and upserted into its collection,
    with the payload read before, written again for any row that changed meanwhile (a label
    change whose outbox entry reached the collection before the point did finds nothing to
    update there). Nothing is marked indexed: that is the active version's record. Returns
    (embedded, skipped: bytes unreadable or refused by the embedder)."""
    data = await bounded(concurrency, rows, lambda row: _stored_bytes(downstream, row.id))
    present = [(row, payload) for row, payload in zip(rows, data, strict=True)
               if payload is not None]
    skipped = len(rows) - len(present)
    if not present:
        return 0, skipped
    parts = [FilePart(f"image-{row.id}", "application/octet-stream", payload)
             for row, payload in present]
    results = await downstream.embedder.embed(parts, encoding="base64", model=model.name)
    points = []
    for (row, _), result in zip(present, results, strict=True):
        if result.vector_b64 is None:
            log.warning("image %d not embedded in %s: %s", row.id, model.name, result.error)
            skipped += 1
            continue
        points.append(PointIn(id=row.id, vector_b64=result.vector_b64, payload=payload_of(row)))
    if not points:
        return 0, skipped
    await downstream.search.upsert(model.name, points)
    written = {row.id: payload_of(row) for row, _ in present}
    fresh = await downstream.catalog.lookup([point.id for point in points])
    changed = [image for image in fresh if payload_of(image) != written.get(image.id)]
    if changed:
        await apply_payloads(downstream.search, model.name, changed)
    return len(points), skipped


async def _stored_bytes(downstream: Downstream, image_id: int) -> bytes | None:
    try:
        return await downstream.catalog.image_bytes(image_id)
    except (DownstreamRejected, DownstreamFailed) as exc:
        log.warning("image %d not re-embedded: %s", image_id, exc.detail)
        return None
