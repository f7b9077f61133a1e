"""Fixtures the whole suite shares: the real data set, and the real catalog over PostgreSQL.

The helpers behind them live in tests/support, and test modules import them from there: a test
module never imports a conftest or another test module.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from nauplius.core.contracts.gateway import gateway_headers
from tests.support.data import SHARED_DATA, ZOOLAKE, SampleImage, first_of_each_class
from tests.support.database import drop_database

if TYPE_CHECKING:
    from tests.support.catalog import Catalog

# Apps run in-process here keep uvicorn's plain logs and leave pytest's log capture alone; the
# services' JSON logs have a test of their own (tests/test_observability.py).
os.environ.setdefault("NAUPLIUS_LOG_FORMAT", "plain")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared data set is missing at {SHARED_DATA} (see README)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def zoolake() -> list[SampleImage]:
    """The first image of each of eight ZooLake classes, with the manifest's label and sha256."""
    if not ZOOLAKE.is_dir():
        pytest.fail(f"the shared data set is missing at {ZOOLAKE}")
    return first_of_each_class(8)


# The catalog fixtures import the catalog when a test asks for them, not when the suite starts:
# a test of the command line or the formats does not need the catalog to import.
@pytest.fixture(scope="session")
def catalog_database_url() -> Iterator[str]:
    """A fresh database with all the catalog's migrations applied, dropped after the session."""
    from tests.support.catalog import create_migrated_database

    url = asyncio.run(create_migrated_database())
    yield url
    asyncio.run(drop_database(url))


@pytest.fixture
async def catalog(catalog_database_url: str, tmp_path: Path) -> AsyncIterator[Catalog]:
    """The real catalog app (lifespan run: pool, migrations) over an emptied database."""
    from services.catalog.config import CatalogSettings
    from tests.support.catalog import empty_catalog, running_catalog

    await empty_catalog(catalog_database_url)
    settings = CatalogSettings(database_url=catalog_database_url, data_dir=tmp_path / "catalog")
    async with running_catalog(settings) as started:
        yield started


@pytest.fixture(scope="module")
def client(stack) -> Iterator[httpx.Client]:
    """The gateway of the system test's own `stack` fixture (tests.support.stack.running_stack),
    with its admin key."""
    headers = gateway_headers(stack.api_key)
    with httpx.Client(base_url=stack.services["gateway"].url, timeout=120.0, headers=headers) as http:
        yield http
