"""The ingest worker in-process, over an httpx client that reaches the services."""

from collections.abc import Coroutine
from typing import Any

import httpx

from nauplius.core.clients import Downstream
from services.worker.config import WorkerSettings
from services.worker.worker import IngestWorker

SERVICE_URLS = {"embedder_url": "http://embedder", "search_url": "http://search",
                "catalog_url": "http://catalog"}


def worker_over(http: httpx.AsyncClient, **settings: Any) -> IngestWorker:
    """The ingest worker reaching http://embedder, http://search and http://catalog through
    `http` (give it a ServiceRouter); `settings` override WorkerSettings' defaults."""
    current = WorkerSettings(**SERVICE_URLS, **settings)
    return IngestWorker(current, Downstream.over(http, current.embedder_url, current.search_url,
                                                 current.catalog_url))


def ingest_loop(worker: IngestWorker) -> Coroutine[Any, Any, None]:
    """The worker's ingest loop, as services/worker/main.py runs it in its lifespan: rounds until
    cancelled, outlasting whatever a round raises."""
    return worker.run_forever()
