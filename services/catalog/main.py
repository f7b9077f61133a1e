"""The catalog app: `uvicorn services.catalog.main:app` (settings from CATALOG_* env)."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from nauplius.core.observability import (
    JOB_QUEUE,
    configure_logging_from_environment,
    install_observability,
)
from nauplius.core.service_auth import ServiceKeyMiddleware, service_key_from_environment
from services.catalog import access, queries
from services.catalog.config import CatalogSettings
from services.catalog.db import create_pool
from services.catalog.errors import install_error_handlers
from services.catalog.ingest import Ingestor
from services.catalog.routes import ROUTERS, bulk
from services.catalog.storage import ImageStore

logger = logging.getLogger("nauplius.catalog")


async def _queue_gauges(app: FastAPI) -> None:
    async with app.state.pool.acquire() as conn:
        depth = {(r["what"], r["state"]): r["n"] for r in await conn.fetch(queries.JOB_QUEUE_DEPTH)}
    for what, state in (("items", "pending"), ("items", "running"), ("tasks", "pending"),
                        ("tasks", "running"), ("outbox", "pending")):
        JOB_QUEUE.labels(what, state).set(depth.get((what, state), 0))


def create_app(settings: CatalogSettings | None = None, service_key: str | None = None) -> FastAPI:
    """The app; settings, and `service_key` (the credential callers must send), are read from
    the environment at start when not given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging_from_environment("catalog")
        app.state.service_key = service_key or service_key_from_environment()
        current = settings if settings is not None else CatalogSettings()
        current.data_dir.mkdir(parents=True, exist_ok=True)
        pool = await create_pool(current)
        if current.bootstrap_key_file is not None:
            async with pool.acquire() as conn:
                await access.bootstrap_admin_key(conn, current.bootstrap_key_file)
        app.state.settings = current
        app.state.pool = pool
        app.state.ingestor = Ingestor(
            store=ImageStore(current.data_dir),
            limiter=anyio.CapacityLimiter(current.image_threads),
            max_pixels=current.max_pixels,
            max_side=current.max_side,
            thumbnail_size=current.thumbnail_size,
        )
        logger.info("catalog ready: data_dir=%s pool<=%d", current.data_dir, current.pool_max_size)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(title="Nauplius catalog", version="1", lifespan=lifespan)
    app.add_middleware(ServiceKeyMiddleware)
    install_observability(app, "catalog", _queue_gauges)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(bulk.router)
    return app


app = create_app()
