"""Catalog fixtures: one migrated database per session, real zoolake images, a real app."""

import asyncio
import csv
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.catalog.config import CatalogSettings
from services.catalog.db import init_connection
from services.catalog.main import create_app
from services.catalog.migrations import apply_migrations
from tests.conftest import SHARED_DATA, create_database, drop_database

ZOOLAKE = SHARED_DATA / "zoolake"


@dataclass(frozen=True)
class SampleImage:
    path: Path
    label: str
    sha256: str

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


@pytest.fixture(scope="session")
def zoolake() -> list[SampleImage]:
    """The first image of each of eight ZooLake classes, with the manifest's label and sha256."""
    if not ZOOLAKE.is_dir():
        pytest.fail(f"the shared data set is missing at {ZOOLAKE}")
    picked: dict[str, SampleImage] = {}
    with open(ZOOLAKE / "manifest.csv", newline="") as manifest:
        for row in csv.DictReader(manifest):
            if row["label"] not in picked:
                picked[row["label"]] = SampleImage(
                    ZOOLAKE / row["path"], row["label"], row["sha256"]
                )
            if len(picked) == 8:
                break
    return list(picked.values())


async def _create_migrated() -> str:
    url = await create_database("nauplius_catalog_test")
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    return url


@pytest.fixture(scope="session")
def catalog_database_url() -> Iterator[str]:
    """A fresh database with all migrations applied, dropped at the end of the session."""
    url = asyncio.run(_create_migrated())
    yield url
    asyncio.run(drop_database(url))


@pytest.fixture
async def conn(catalog_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    connection = await asyncpg.connect(catalog_database_url)
    await init_connection(connection)
    transaction = connection.transaction()
    await transaction.start()
    try:
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()


async def empty_catalog(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "TRUNCATE images, labels, taxa, projects, api_keys, annotators, suggestion_calibrations"
            " RESTART IDENTITY CASCADE"
        )
        # The default project, as migration 003 made it.
        await connection.execute(
            "INSERT INTO projects (id, name) VALUES (1, 'default');"
            " SELECT setval(pg_get_serial_sequence('projects', 'id'), 1)"
        )
    finally:
        await connection.close()


@dataclass
class Catalog:
    app: FastAPI
    client: httpx.AsyncClient
    settings: CatalogSettings

    def stored_files(self) -> set[Path]:
        return {p for p in self.settings.data_dir.rglob("*") if p.is_file()}

    async def row_count(self) -> int:
        async with self.app.state.pool.acquire() as connection:
            return await connection.fetchval("SELECT count(*) FROM images")


async def start_catalog(settings: CatalogSettings) -> AsyncIterator[Catalog]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://catalog") as client:
            yield Catalog(app, client, settings)


@pytest.fixture
async def catalog(catalog_database_url: str, tmp_path: Path) -> AsyncIterator[Catalog]:
    """The real catalog app (lifespan run: pool + migrations) over an emptied database."""
    await empty_catalog(catalog_database_url)
    settings = CatalogSettings(database_url=catalog_database_url, data_dir=tmp_path / "catalog")
    async for started in start_catalog(settings):
        yield started
