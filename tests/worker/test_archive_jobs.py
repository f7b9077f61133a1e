"""Archive jobs: the gateway streams the upload to the catalog's staging and answers the job; the
worker unpacks it (within nauplius.formats' budgets) into the job's items, which are indexed."""

import asyncio
import io
import time
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.config import GatewaySettings
from tests.support.catalog import Catalog
from tests.support.data import zoolake_images
from tests.support.gateway import running_gateway
from tests.support.services import ServiceRouter
from tests.support.worker import running_worker


@pytest.fixture
async def gateway(services: ServiceRouter, http: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(embedder_url="http://embedder", search_url="http://search",
                               catalog_url="http://catalog", auth="off")
    async with running_gateway(settings, services) as client, running_worker(http):
        yield client


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def _finished(gateway: httpx.AsyncClient, job_id: int, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = (await gateway.get(f"/api/v1/jobs/{job_id}")).json()
        if status["finished"]:
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {status}")


async def test_an_archive_is_unpacked_by_the_worker_and_its_images_indexed(
        gateway: httpx.AsyncClient, catalog: Catalog):
    entries = {f"{label}/{path.name}": path.read_bytes()
               for label in ("daphnia", "fish") for path in zoolake_images(label, 2)}
    entries["fish/truncated.jpg"] = entries[next(iter(entries))][:200]
    answer = await gateway.post("/api/v1/jobs", data={"label_from_folder": "true", "sample": "S1"},
                                files={"archive": ("drop.zip", _zip(entries), "application/zip")})
    assert answer.status_code == 201, answer.text
    assert answer.json()["kind"] == "archive" and answer.json()["task"]["status"] != "waiting"
    status = await _finished(gateway, answer.json()["id"])
    assert status["task"]["status"] == "done"
    assert status["task"]["result"] == {"items": 5, "refused": 0}
    assert status["counts"]["done"] == 4 and status["counts"]["failed"] == 1
    assert "truncated.jpg" in status["errors"][0]["source"]
    images = (await gateway.get("/api/v1/images")).json()["data"]
    assert sorted(i["label"] for i in images) == ["daphnia", "daphnia", "fish", "fish"]
    assert {i["sample"] for i in images} == {"S1"} and all(i["indexed_at"] for i in images)
    assert not list((catalog.settings.data_dir / "staging" / "archives").iterdir())


async def test_a_corrupt_archive_ends_its_job_with_the_reason(gateway: httpx.AsyncClient):
    answer = await gateway.post("/api/v1/jobs", files={
        "archive": ("broken.zip", b"PK\x03\x04 this is no zip", "application/zip")})
    assert answer.status_code == 201, answer.text
    status = await _finished(gateway, answer.json()["id"])
    assert status["counts"]["failed"] == 1 and status["total"] == 1
    assert "broken.zip" in status["errors"][0]["source"]
