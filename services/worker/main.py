"""The ingest worker: `uvicorn services.worker.main:app` (settings from WORKER_* env).

An app only so that it answers /health like every other service; the work is the loops started
in its lifespan (services/worker/loop.py). Run as many workers as you like: all work is claimed
with FOR UPDATE SKIP LOCKED under a lease.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request

from nauplius.core.clients import Downstream
from nauplius.core.observability import (
    WORKER_DONE,
    configure_logging_from_environment,
    install_observability,
)
from nauplius.core.service_auth import ServiceKeyMiddleware, service_key_from_environment
from services.worker.config import WorkerSettings
from services.worker.loop import Worker

log = logging.getLogger("nauplius.worker")


async def _worker_gauges(app: FastAPI) -> None:
    worker: Worker = app.state.worker
    for what, value in (("items_settled", worker.ingest.settled),
                        ("images_reindexed", worker.ingest.reindexed),
                        ("payloads_applied", worker.outbox.applied),
                        ("tasks_finished", worker.tasks.finished)):
        WORKER_DONE.labels(what).set(value)


def create_app(settings: WorkerSettings | None = None, service_key: str | None = None) -> FastAPI:
    """`service_key`: the credential the worker sends and asks; unset, read from the
    environment at start (nauplius.core.service_auth)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging_from_environment("worker")
        app.state.service_key = service_key or service_key_from_environment()
        current = settings or WorkerSettings()
        async with httpx.AsyncClient(timeout=current.timeout_s) as http:
            downstream = Downstream.over(http, current.embedder_url, current.search_url,
                                         current.catalog_url, service_key=app.state.service_key)
            worker = Worker.over(current, downstream)
            app.state.worker = worker
            tasks = [asyncio.create_task(loop) for loop in worker.loops()]
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
    app.add_middleware(ServiceKeyMiddleware)  # every route but /health, as in every service
    install_observability(app, "worker", _worker_gauges)

    @app.get("/health")
    async def health(request: Request) -> dict[str, object]:
        worker = request.app.state.worker
        return {"status": "ok", "service": "worker", "settled": worker.ingest.settled,
                "reindexed": worker.ingest.reindexed, "payloads_applied": worker.outbox.applied,
                "tasks_finished": worker.tasks.finished,
                "service_seconds": dict(worker.ingest.seconds)}

    return app


app = create_app()
