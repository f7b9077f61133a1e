"""The real catalog app in-process over a migrated test database, and its job routes."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from services.catalog.config import CatalogSettings
from services.catalog.main import create_app
from services.catalog.migrations import apply_migrations
from tests.support.data import SampleImage
from tests.support.database import create_database
from tests.support.service_key import SERVICE_HEADERS, SERVICE_KEY


async def create_migrated_database(prefix: str = "nauplius_catalog_test") -> str:
    """A fresh database with all the catalog's migrations applied; returns its URL."""
    url = await create_database(prefix)
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    return url


async def empty_catalog(database_url: str) -> None:
    """Every image, label, taxon, project, key and job gone; the default project back."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "TRUNCATE images, labels, taxa, projects, api_keys, annotators, suggestion_calibrations,"
            " ingest_jobs RESTART IDENTITY CASCADE"
        )
        # The default project, as migration 003 made it, with the grant 007 gave it.
        await connection.execute(
            "INSERT INTO projects (id, name) VALUES (1, 'default');"
            " SELECT setval(pg_get_serial_sequence('projects', 'id'), 1);"
            " INSERT INTO project_grants (project_id, everyone, role) VALUES (1, true, 'admin')"
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

    def staged_files(self) -> list[Path]:
        """Job items' bytes waiting in staging (a done item's are released to the image store)."""
        return [p for p in (self.settings.data_dir / "staging").rglob("*") if p.is_file()]

    async def row_count(self) -> int:
        async with self.app.state.pool.acquire() as connection:
            return await connection.fetchval("SELECT count(*) FROM images")


@asynccontextmanager
async def running_catalog(settings: CatalogSettings) -> AsyncIterator[Catalog]:
    """The catalog app with its lifespan running (pool, migrations), behind an httpx client that
    sends the service credential."""
    app = create_app(settings, service_key=SERVICE_KEY)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://catalog",
                                     headers=SERVICE_HEADERS) as client:
            yield Catalog(app, client, settings)


async def upload(client: httpx.AsyncClient, picture: SampleImage, **fields: Any) -> httpx.Response:
    """POST /v1/images of one sample image (as image/jpeg), with these form fields."""
    files = {"file": (picture.path.name, picture.data, "image/jpeg")}
    return await client.post("/v1/images", files=files, data=fields)


# --- ingest jobs through the catalog's /v1/jobs ------------------------------------------------
async def new_job(catalog: Catalog, actor: int | None = None) -> int:
    headers = {} if actor is None else {"X-Nauplius-Annotator": str(actor)}
    answer = await catalog.client.post("/v1/jobs", json={"source": "test"}, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


async def add_items(catalog: Catalog, job_id: int, files: list[tuple[str, bytes]],
                    items: Any = None) -> httpx.Response:
    """`items`: the per-file JSON objects (a list, or a raw string sent as is)."""
    data = {} if items is None else {"items": items if isinstance(items, str) else json.dumps(items)}
    return await catalog.client.post(f"/v1/jobs/{job_id}/items", data=data,
                                     files=[("files", f) for f in files] or None)


async def closed_job(catalog: Catalog, files: list[tuple[str, bytes]], items: Any = None,
                     actor: int | None = None) -> int:
    """A job holding these files, closed: finished once every item is settled."""
    job_id = await new_job(catalog, actor)
    added = await add_items(catalog, job_id, files, items)
    assert added.status_code == 200, added.text
    closed = await catalog.client.post(f"/v1/jobs/{job_id}/close")
    assert closed.status_code == 200, closed.text
    return job_id


async def job_status(catalog: Catalog, job_id: int) -> dict[str, Any]:
    answer = await catalog.client.get(f"/v1/jobs/{job_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()
