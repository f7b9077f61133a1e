"""The ingest worker's neighbours, real and in-process: the catalog on PostgreSQL (the `catalog`
fixture of tests/conftest.py), the embedder (ONNX) and search (Qdrant Edge in tmp_path)."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.catalog import Catalog
from tests.support.service_key import SERVICE_HEADERS
from tests.support.services import ServiceRouter, embedder_app, running_apps, search_app


@pytest.fixture
async def services(catalog: Catalog, tmp_path: Path) -> AsyncIterator[ServiceRouter]:
    """http://embedder, http://search and http://catalog; take one `down` to make it unreachable."""
    apps = {"embedder": embedder_app(), "search": search_app(tmp_path / "search")}
    async with running_apps(apps):  # the catalog fixture runs the catalog's lifespan
        yield ServiceRouter({**apps, "catalog": catalog.app})


@pytest.fixture
async def http(services: ServiceRouter) -> AsyncIterator[httpx.AsyncClient]:
    """The client a worker under test talks through (a test's own calls through it send the
    service credential as the worker's do)."""
    async with httpx.AsyncClient(transport=services, headers=SERVICE_HEADERS) as client:
        yield client
