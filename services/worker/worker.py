"""Ingest items: claim them, run the shared pipeline on them, settle each one; and the pass that
indexes stored images in a newly active model."""

import asyncio
import base64
import logging
from collections import defaultdict
from typing import Literal, NamedTuple

from nauplius.core.active_model import ActiveModel
from nauplius.core.clients import Downstream, FilePart
from nauplius.core.contracts.catalog import MAX_ERROR_LENGTH, ClaimedItem, ItemResult
from nauplius.core.errors import DownstreamError, DownstreamFailed, DownstreamRejected
from nauplius.core.pipeline import Content, bounded, index_contents
from services.worker.config import WorkerSettings
from services.worker.near_duplicates import flag_near_duplicates
from services.worker.timing import timed

log = logging.getLogger("nauplius.worker")

FORM_FIELDS = ("label", "label_state", "instrument", "sample", "captured_at", "metadata")


def backoff_s(attempts: int, cap: float) -> float:
    return min(cap, 0.5 * 2.0 ** max(0, attempts - 1))


class Settlement(NamedTuple):
    outcome: Literal["retry", "failed"]
    error: str
    retry_after_s: float


def after_outage(attempts: int, reason: str, settings: WorkerSettings) -> Settlement:
    """Work its services could not do: retried with back-off, failed at WORKER_MAX_ATTEMPTS."""
    if attempts >= settings.max_attempts:
        return Settlement("failed", f"gave up after {attempts} attempts: {reason}", 0.0)
    return Settlement("retry", reason, backoff_s(attempts, settings.max_backoff_s))


class IngestWorker:
    def __init__(self, settings: WorkerSettings, downstream: Downstream) -> None:
        self.settings = settings
        # Seconds spent in calls to each service since start (GET /health shows them).
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.downstream = Downstream(timed(downstream.embedder, self.seconds),
                                     timed(downstream.search, self.seconds),
                                     timed(downstream.catalog, self.seconds))
        self.active_model = ActiveModel(downstream)
        self.settled = 0
        self.reindexed = 0
        # Per model: the id up to which the catalog was re-indexed, or None once a pass is done.
        self._reindex_cursor: dict[str, int | None] = {}
        self._reindexing = asyncio.Lock()  # one loop of a process re-indexes at a time

    async def run_once(self) -> bool:
        """One claimed batch, settled; False when nothing was due."""
        catalog = self.downstream.catalog
        items = await catalog.claim_items(self.settings.batch_size, self.settings.lease_s,
                                          with_data=True)
        if not items:
            return False
        try:
            results = await self._process(items)
        except DownstreamError as exc:
            log.warning("batch of %d items will be retried: %s", len(items), exc.detail)
            results = [self._retry(item, str(exc.detail)) for item in items]
        except Exception as exc:
            # A bug or an input nothing expected: counted as an attempt like an outage, so a
            # poison item ends failed at WORKER_MAX_ATTEMPTS instead of coming back forever.
            log.exception("batch of %d items failed in the worker", len(items))
            reason = f"worker error: {type(exc).__name__}: {exc}"
            results = [self._retry(item, reason) for item in items]
        self.settled += (await catalog.record_results(results)).updated
        return True

    async def reindex_once(self) -> bool:
        """One batch of stored images not yet indexed in the active model, as after a switch to
        another model: their bytes come from the catalog and go through the same pipeline. One
        pass over the catalog per model and process (new images are indexed as they come);
        False when there is nothing to do. Job items always go first (see run_forever)."""
        if self._reindexing.locked():
            return False
        async with self._reindexing:
            model = await self.active_model.get()
            after = self._reindex_cursor.get(model.name, 0)
            if after is None:
                return False
            catalog = self.downstream.catalog
            images = await catalog.unindexed(model.name, after, self.settings.batch_size)
            if not images:
                self._reindex_cursor[model.name] = None
                if after:
                    log.info("re-indexed the catalog in %s", model.name)
                return False
            data = await bounded(self.settings.catalog_concurrency, images,
                                 lambda image: self._stored_bytes(image.id))
            contents = [Content(FilePart(image.filename or "image", "application/octet-stream",
                                         payload), image.sha256)
                        for image, payload in zip(images, data, strict=True) if payload is not None]
            await index_contents(contents, self.downstream, model,
                                 self.settings.catalog_concurrency, also=self.active_model.written)
            for content in contents:
                if content.error is not None:
                    log.warning("image %s not re-indexed: %s", content.image and content.image.id,
                                content.error)
            self.reindexed += sum(content.error is None for content in contents)
            self._reindex_cursor[model.name] = images[-1].id
            return True

    async def _stored_bytes(self, image_id: int) -> bytes | None:
        """The image's bytes; None (skipped, logged) when the catalog cannot give them."""
        try:
            return await self.downstream.catalog.image_bytes(image_id)
        except (DownstreamRejected, DownstreamFailed) as exc:
            log.warning("image %d not re-indexed: %s", image_id, exc.detail)
            return None

    def _retry(self, item: ClaimedItem, reason: str) -> ItemResult:
        settled = after_outage(item.attempts, reason, self.settings)
        return ItemResult(id=item.id, outcome=settled.outcome, error=settled.error[:MAX_ERROR_LENGTH],
                          retry_after_s=settled.retry_after_s)

    async def _process(self, items: list[ClaimedItem]) -> list[ItemResult]:
        catalog = self.downstream.catalog
        concurrency = self.settings.catalog_concurrency
        carried = {position: base64.b64decode(item.data) for position, item in enumerate(items)
                   if item.data is not None}
        # Bytes the claim did not carry are asked for alone, so a missing file is named, and
        # fails its own item only: the rest of the batch goes on.
        missing = [position for position in range(len(items)) if position not in carried]
        gone: dict[int, str] = {}

        async def fetch(position: int) -> bytes | None:
            try:
                return await catalog.item_data(items[position].id)
            except DownstreamRejected as exc:
                gone[position] = str(exc.detail)
                return None

        for position, payload in zip(missing, await bounded(concurrency, missing, fetch), strict=True):
            if payload is not None:
                carried[position] = payload
        contents: dict[str, Content] = {}
        for position, item in enumerate(items):
            if position in gone:
                continue
            payload = carried[position]
            assert item.sha256 is not None  # a claimed item's content is staged under its sha256
            if item.sha256 not in contents:
                fields = {k: item.fields.get(k) for k in FORM_FIELDS}
                part = FilePart(item.filename or "item", "application/octet-stream", payload)
                contents[item.sha256] = Content(part, item.sha256, fields, actor=item.created_by)
            contents[item.sha256].positions.append(position)
        model = await self.active_model.get()
        await index_contents(list(contents.values()), self.downstream, model, concurrency,
                             also=self.active_model.written)
        await flag_near_duplicates(list(contents.values()), self.downstream, model,
                                   self.settings.near_duplicate_cosine)
        results = [ItemResult(id=items[position].id, outcome="failed", error=reason[:MAX_ERROR_LENGTH])
                   for position, reason in gone.items()]
        for content in contents.values():
            for position in content.positions:
                item_id = items[position].id
                if content.error is not None:
                    results.append(ItemResult(id=item_id, outcome="failed",
                                              error=content.error[:MAX_ERROR_LENGTH]))
                else:
                    assert content.image is not None
                    # The catalog decides done or duplicate: it knows which item counted it first.
                    results.append(ItemResult(id=item_id, outcome="done", image_id=content.image.id))
        return results
