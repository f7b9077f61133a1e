"""The ingest worker: `uvicorn services.worker.main:app` (settings from WORKER_* env).

An app only so that it answers /health like every other service; the work is the loop started
in its lifespan. Run as many as you like: items are claimed with FOR UPDATE SKIP LOCKED.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request

from nauplius.core.clients import Downstream
from services.worker.config import WorkerSettings
from services.worker.worker import IngestWorker

log = logging.getLogger("nauplius.worker")


def create_app(settings: WorkerSettings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = settings or WorkerSettings()  # type: ignore[call-arg]
        async with httpx.AsyncClient(timeout=current.timeout_s) as http:
            downstream = Downstream.over(http, current.embedder_url, current.search_url,
                                         current.catalog_url)
            worker = IngestWorker(current, downstream)
            app.state.worker = worker
            tasks = [asyncio.create_task(worker.run_forever()) for _ in range(current.loops)]
            log.info("ingest worker up: batch %d, %d loops, lease %.0f s", current.batch_size,
                     current.loops, current.lease_s)
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    app = FastAPI(title="Nauplius ingest worker", lifespan=lifespan)

    @app.get("/health")
    async def health(request: Request) -> dict[str, object]:
        worker = request.app.state.worker
        return {"status": "ok", "service": "worker", "settled": worker.settled,
                "reindexed": worker.reindexed,
                "service_seconds": dict(worker.seconds)}

    return app


app = create_app()
