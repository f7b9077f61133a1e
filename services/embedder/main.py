import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio import to_thread
from fastapi import FastAPI

from nauplius.core.observability import configure_logging_from_environment, install_observability
from nauplius.core.request_errors import install_request_validation_handler
from nauplius.core.service_auth import ServiceKeyMiddleware, service_key_from_environment
from services.embedder.config import EmbedderSettings
from services.embedder.model import Embedder
from services.embedder.routes import router

log = logging.getLogger("nauplius.embedder")


def served_models(settings: EmbedderSettings) -> dict[str, Embedder]:
    """Each configured model file loaded, by its card's name, the default first."""
    embedders: dict[str, Embedder] = {}
    for path in settings.served_paths():
        embedder = Embedder(path, settings.threads, settings.batch_size, tta=settings.tta)
        if embedder.card.name in embedders:
            raise ValueError(f"two served models share the card name {embedder.card.name!r} "
                             f"({path}): a name is a model version and its search collection")
        embedders[embedder.card.name] = embedder
    return embedders


def create_app(settings: EmbedderSettings | None = None, service_key: str | None = None) -> FastAPI:
    """`service_key`: the credential callers must send; unset, read from the environment at
    start (nauplius.core.service_auth)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging_from_environment("embedder")
        app.state.service_key = service_key or service_key_from_environment()
        s = settings or EmbedderSettings()
        app.state.settings = s
        app.state.limiter = anyio.CapacityLimiter(s.max_concurrency)
        app.state.embedders = await to_thread.run_sync(served_models, s)
        app.state.embedder = next(iter(app.state.embedders.values()))  # the default
        log.info("embedder ready: models %s (default %s), max %d bytes and %d pixels per image",
                 ", ".join(app.state.embedders), app.state.embedder.card.name,
                 s.max_image_bytes, s.max_pixels)
        yield

    app = FastAPI(title="Nauplius embedder", lifespan=lifespan)
    app.add_middleware(ServiceKeyMiddleware)
    install_observability(app, "embedder")
    install_request_validation_handler(app)
    app.include_router(router)
    return app


app = create_app()
