"""The services in-process: real ASGI apps behind one httpx transport that routes by host name
(http://embedder, http://search, http://catalog), as the gateway and the worker reach them."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from services.embedder.config import EmbedderSettings
from services.embedder.main import create_app as create_embedder_app
from services.search.config import SearchSettings
from services.search.main import create_app as create_search_app
from tests.support.service_key import SERVICE_KEY


class ServiceRouter(httpx.AsyncBaseTransport):
    """http://<name> reaches the in-process app of that name. A name with no app, or one taken
    `down`, is refused as a closed port is (httpx.ConnectError): a service that is away.

    Every request that reached an app is kept in `requests`, body read, for tests that count
    what was sent."""

    def __init__(self, apps: dict[str, Any]) -> None:
        self.apps = dict(apps)
        self._transports = {name: httpx.ASGITransport(app=app) for name, app in apps.items()}
        self.down: set[str] = set()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        transport = self._transports.get(host)
        if transport is None or host in self.down:
            raise httpx.ConnectError(f"{host} is down", request=request)
        await request.aread()
        self.requests.append(request)
        return await transport.handle_async_request(request)

    def sent_to(self, host: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.host == host and r.url.path == path]


def embedder_app(**settings: Any) -> FastAPI:
    """The real embedder (ONNX), two threads; the shipped model unless `model_path` says."""
    return create_embedder_app(EmbedderSettings(**{"threads": 2, **settings}),
                               service_key=SERVICE_KEY)


def search_app(data_dir: Path) -> FastAPI:
    """The real search service on Qdrant Edge shards in `data_dir`."""
    return create_search_app(SearchSettings(data_dir=data_dir, qdrant_url=None),
                             service_key=SERVICE_KEY)


@asynccontextmanager
async def running_apps(apps: dict[str, FastAPI]) -> AsyncIterator[ServiceRouter]:
    """These apps with their lifespans running, behind one ServiceRouter."""
    async with AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield ServiceRouter(apps)


@asynccontextmanager
async def in_process_services(tmp: Path, database_prefix: str) -> AsyncIterator[ServiceRouter]:
    """The embedder, search and catalog as `uvicorn services.*.main:app` serves them (settings
    from the environment, patched here) over a fresh database and data under `tmp`; the catalog
    writes its first admin key to tmp/admin-api-key."""
    import pytest

    from services.catalog.main import app as catalog_app
    from services.embedder.main import app as embedder
    from services.search.main import app as search
    from tests.support.database import fresh_database

    async with fresh_database(database_prefix) as database_url:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("EMBEDDER_THREADS", "2")
            env.setenv("SEARCH_DATA_DIR", str(tmp / "search"))
            env.setenv("CATALOG_DATABASE_URL", database_url)
            env.setenv("NAUPLIUS_SERVICE_KEY", SERVICE_KEY)
            env.delenv("NAUPLIUS_SERVICE_KEY_FILE", raising=False)
            env.setenv("CATALOG_DATA_DIR", str(tmp / "catalog"))
            env.setenv("CATALOG_BOOTSTRAP_KEY_FILE", str(tmp / "admin-api-key"))
            async with running_apps({"embedder": embedder, "search": search,
                                     "catalog": catalog_app}) as services:
                yield services
