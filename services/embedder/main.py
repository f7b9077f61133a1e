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
        app.state.embedder = await to_thread.run_sync(
            lambda: Embedder(s.model_path, s.threads, s.batch_size, tta=s.tta))
        log.info("embedder ready: model %s, max %d bytes and %d pixels per image",
                 app.state.embedder.card.name, s.max_image_bytes, s.max_pixels)
        yield

    app = FastAPI(title="Nauplius embedder", lifespan=lifespan)
    app.add_middleware(ServiceKeyMiddleware)
    install_observability(app, "embedder")
    install_request_validation_handler(app)
    app.include_router(router)
    return app


app = create_app()
