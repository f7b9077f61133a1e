"""The ingest worker in-process, over an httpx client that reaches the services."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import httpx

from nauplius.core.clients import Downstream
from services.worker.config import WorkerSettings
from services.worker.loop import Worker, run_forever
from services.worker.worker import IngestWorker
from tests.support.service_key import SERVICE_KEY

SERVICE_URLS: dict[str, Any] = {"embedder_url": "http://embedder", "search_url": "http://search",
                "catalog_url": "http://catalog"}


def worker_over(http: httpx.AsyncClient, **settings: Any) -> IngestWorker:
    """The ingest worker reaching http://embedder, http://search and http://catalog through
    `http` (give it a ServiceRouter); `settings` override WorkerSettings' defaults."""
    current = WorkerSettings(**SERVICE_URLS, **settings)
    return IngestWorker(current, Downstream.over(http, current.embedder_url, current.search_url,
                                                 current.catalog_url, service_key=SERVICE_KEY))


def ingest_loop(worker: IngestWorker) -> Coroutine[Any, Any, None]:
    """The worker's ingest loop, as services/worker/loop.py runs it: rounds until cancelled,
    outlasting whatever a round raises."""
    steps = [worker.run_once, worker.reindex_once]
    return run_forever("ingest", steps, worker.settings.idle_poll_s)


@contextlib.asynccontextmanager
async def running_worker(http: httpx.AsyncClient, **settings: Any) -> AsyncIterator[Worker]:
    """The whole worker (ingest, index outbox, job tasks) running in-process until exit."""
    current = WorkerSettings(**SERVICE_URLS, **{"idle_poll_s": 0.05, **settings})
    worker = Worker.over(current, Downstream.over(http, current.embedder_url, current.search_url,
                                                  current.catalog_url, service_key=SERVICE_KEY))
    tasks = [asyncio.create_task(loop) for loop in worker.loops()]
    try:
        yield worker
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
