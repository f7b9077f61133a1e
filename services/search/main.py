import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from nauplius.core.contracts.search import SearchHealth
from nauplius.core.observability import (
    INDEX_POINTS,
    configure_logging_from_environment,
    install_observability,
)
from nauplius.core.service_auth import ServiceKeyMiddleware, service_key_from_environment
from services.search.backends.base import VectorIndex
from services.search.config import SearchSettings
from services.search.deps import IndexDep
from services.search.routes import install_error_handlers, router

logger = logging.getLogger("nauplius.search")


def open_index(settings: SearchSettings) -> VectorIndex:
    """QDRANT_URL set -> Qdrant server; otherwise embedded Qdrant Edge shards."""
    if settings.qdrant_url:
        from services.search.backends.qdrant_server import CollectionLayout, QdrantServerIndex

        logger.info("search backend: qdrant server at %s", settings.qdrant_url)
        return QdrantServerIndex(settings.qdrant_url, settings.qdrant_key(),
                                 layout=CollectionLayout.from_settings(settings))
    from services.search.backends.edge import EdgeIndex

    return EdgeIndex.open(
        settings.data_dir,
        optimize_delay_s=settings.optimize_delay_s,
        indexing_threshold_kb=settings.indexing_threshold_kb,
        quantization=settings.quantization,
        oversampling=settings.oversampling,
        on_disk=settings.on_disk,
        worker_threads=settings.worker_threads,
        hamming_bits=settings.hamming_bits,
        shard_points=settings.shard_points,
        max_shards=settings.max_shards,
    )


async def _index_gauges(app: FastAPI) -> None:
    index: VectorIndex = app.state.index
    for collection in (await index.health())["collections"]:
        INDEX_POINTS.labels(collection).set(await index.count(collection))


def create_app(settings: SearchSettings | None = None, index: VectorIndex | None = None,
               service_key: str | None = None) -> FastAPI:
    """The search service; pass `index` to serve an already open backend (closed at shutdown).
    `service_key`: the credential callers must send; unset, read from the environment at start."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging_from_environment("search")
        app.state.service_key = service_key or service_key_from_environment()
        current = settings or SearchSettings()
        app.state.max_batch_queries = current.max_batch_queries
        app.state.index = index if index is not None else open_index(current)
        try:
            yield
        finally:
            await app.state.index.close()

    app = FastAPI(title="Nauplius search", version="0.1.0", lifespan=lifespan)
    app.add_middleware(ServiceKeyMiddleware)
    install_observability(app, "search", _index_gauges)
    install_error_handlers(app)
    app.include_router(router)

    @app.get("/health")
    async def health(index: IndexDep) -> SearchHealth:
        return SearchHealth(status="ok", **(await index.health()))

    return app


app = create_app()
