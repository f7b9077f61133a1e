"""Nauplius gateway: public REST API and static frontend in front of the internal services."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import xstatic.pkg.jquery as xstatic_jquery
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from gateway.auth import KeyCache, require
from gateway.config import GatewaySettings
from gateway.errors import install_error_handlers
from gateway.perimeter import Perimeter
from gateway.routes import (
    adaptation,
    clusters,
    duplicates,
    health,
    images,
    jobs,
    labelling,
    models,
    search,
    training,
)
from nauplius.core.active_model import ActiveModel
from nauplius.core.clients import Downstream
from nauplius.core.observability import configure_logging_from_environment, install_observability
from nauplius.core.service_auth import service_key_from_environment

log = logging.getLogger("nauplius.gateway")

STATIC_DIR = Path(__file__).parent / "static"


def create_app(
    settings: GatewaySettings | None = None, transport: httpx.AsyncBaseTransport | None = None,
    service_key: str | None = None,
) -> FastAPI:
    """Build the app; settings, and `service_key` (the credential its calls to the services
    prove), default to the environment, read at start, not at import."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging_from_environment("gateway")
        current = settings or GatewaySettings()
        async with httpx.AsyncClient(timeout=current.timeout_s, transport=transport) as http:
            downstream = Downstream.over(http, current.embedder_url, current.search_url,
                                         current.catalog_url,
                                         service_key=service_key or service_key_from_environment())
            app.state.settings = current
            app.state.downstream = downstream
            app.state.key_cache = KeyCache()
            # The model card is fetched at first use, so the gateway starts before its services.
            app.state.active_model = ActiveModel(downstream)
            log.info(
                "gateway up: embedder %s, search %s, catalog %s",
                current.embedder_url, current.search_url, current.catalog_url,
            )
            yield

    app = FastAPI(title="Nauplius", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    # Keys and body caps before any body is read (the static frontend and /health stay open).
    app.add_middleware(Perimeter)
    # Outermost: the perimeter's refusals are counted and logged too. /metrics needs an admin key.
    install_observability(app, "gateway", dependencies=[Depends(require("admin"))])
    app.include_router(images.router)
    app.include_router(jobs.router)
    app.include_router(search.router)
    app.include_router(labelling.router)
    app.include_router(clusters.router)
    app.include_router(duplicates.router)
    app.include_router(adaptation.router)
    app.include_router(training.router)
    app.include_router(models.router)
    app.include_router(health.router)
    # Order matters: the vendor mount must come before the broader /static and / mounts.
    app.mount("/static/vendor/jquery", StaticFiles(directory=xstatic_jquery.BASE_DIR), name="jquery")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="frontend")
    return app


app = create_app()
