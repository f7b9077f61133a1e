"""Drains the catalog's index outbox: every label, state, instrument, sample or project change of
an indexed image is queued there in the transaction that made it; here its current payload is
written to the search index (the collection of every model version kept), and the entry removed
once that held (retried with back-off until then). The catalog hands out only images already
indexed: an image still on its way to the index gets its payload from the ingest pipeline, and its
entry once it is indexed."""

import logging

from nauplius.core.active_model import ActiveModel
from nauplius.core.clients import Downstream
from nauplius.core.errors import DownstreamError
from nauplius.core.index_sync import apply_everywhere
from services.worker.config import WorkerSettings
from services.worker.worker import backoff_s

log = logging.getLogger("nauplius.worker")


class OutboxDrain:
    def __init__(self, settings: WorkerSettings, downstream: Downstream,
                 active_model: ActiveModel) -> None:
        self.settings = settings
        self.downstream = downstream
        self.active_model = active_model
        self.applied = 0

    async def run_once(self) -> bool:
        """One claimed batch of entries applied and settled; False when none was due."""
        catalog = self.downstream.catalog
        entries = await catalog.claim_outbox(self.settings.batch_size * 4, self.settings.lease_s)
        if not entries:
            return False
        versions = [(entry.image.id, entry.version) for entry in entries]
        try:
            await apply_everywhere(self.downstream.search, self.active_model,
                                   [entry.image for entry in entries])
        except DownstreamError as exc:
            attempts = max(entry.attempts for entry in entries)
            log.warning("index payloads of %d images will be retried: %s", len(entries), exc.detail)
            await catalog.settle_outbox([], versions, str(exc.detail),
                                        backoff_s(attempts, self.settings.max_backoff_s))
            return True
        await catalog.settle_outbox(versions, [], None, 0.0)
        self.applied += len(entries)
        return True
