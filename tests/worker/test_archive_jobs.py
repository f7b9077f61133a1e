"""Archive jobs: the gateway streams the upload to the catalog's staging and answers the job; the
worker unpacks it (within nauplius.formats' budgets) into the job's items, which are indexed."""

import asyncio
import io
import stat
import time
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.config import GatewaySettings
from services.worker.config import WorkerSettings
from tests.support.catalog import Catalog
from tests.support.data import SHARED_DATA, zoolake_images
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


def _malformed_drop() -> bytes:
    """A zip with a bin whose ADC rows hold NaN and infinite sizes, an EcoTaxa export with a NaN
    number and a 200,000-character cell, a member over the upload limit, a symlink and a `..`."""
    bin_id = "D20220522T000439_IFCB134"
    bins = SHARED_DATA / "ifcb" / "bins"
    rows = (bins / f"{bin_id}.adc").read_text().splitlines()
    for number, (column, value) in {3: (15, "nan"), 4: (16, "inf")}.items():
        cells = rows[number - 1].split(",")
        cells[column] = value
        rows[number - 1] = ",".join(cells)
    daphnia = zoolake_images("daphnia", 2)
    tsv = "\n".join(["object_id\timg_file_name\tobject_lat\tsample_id", "[t]\t[t]\t[f]\t[t]",
                     f"ok_1\timg/{daphnia[0].name}\t47.3\tS", f"nan_1\timg/{daphnia[1].name}\tnan\tS",
                     f"huge_1\timg/{daphnia[1].name}\t47.3\t{'x' * 200_000}",
                     f"ok_2\timg/{daphnia[1].name}\t47.3\tS"]) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"bin/{bin_id}.hdr", (bins / f"{bin_id}.hdr").read_bytes())
        archive.writestr(f"bin/{bin_id}.adc", "\n".join(rows))
        archive.writestr(f"bin/{bin_id}.roi", (bins / f"{bin_id}.roi").read_bytes())
        archive.writestr("export/ecotaxa_drop.tsv", tsv)
        for path in daphnia:
            archive.writestr(f"export/img/{path.name}", path.read_bytes())
        archive.writestr("huge.png", bytes(WorkerSettings.model_fields["max_item_bytes"].default + 1))
        link = zipfile.ZipInfo("link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("../escape.png", daphnia[0].read_bytes())
    return buffer.getvalue()


async def test_a_malformed_upload_gives_refused_items_and_the_rest_goes_in(
        gateway: httpx.AsyncClient):
    # Once: the NaN ADC row failed the whole job (ValueError), the NaN [f] cell and the member
    # over the upload limit each refused a whole batch at the catalog.
    answer = await gateway.post("/api/v1/jobs", files={
        "archive": ("drop.zip", _malformed_drop(), "application/zip")})
    assert answer.status_code == 201, answer.text
    status = await _finished(gateway, answer.json()["id"], timeout_s=120)
    assert status["task"]["status"] == "done", status["task"]
    assert status["task"]["result"] == {"items": 7, "refused": 7}
    assert status["counts"]["done"] == 7 and status["counts"]["failed"] == 7
    errors = {e["source"].split("!", 1)[1]: e["error"] for e in status["errors"]}
    limit = WorkerSettings.model_fields["max_item_bytes"].default
    assert errors == {
        "D20220522T000439_IFCB134#3": "ADC row 3: RoiWidth is not a count: 'nan'",
        "D20220522T000439_IFCB134#4": "ADC row 4: RoiHeight is not a count: 'inf'",
        "export/ecotaxa_drop.tsv:nan_1": "object_lat: 'nan' is not a finite number",
        "export/ecotaxa_drop.tsv:3": "line 5: field larger than field limit (131072)",
        "huge.png": f"file too large: more than {limit} bytes",
        "link.png": "a symbolic link: links are never followed",
        "../escape.png": "an absolute path or one that leaves the archive (..)",
    }
    images = (await gateway.get("/api/v1/images", params={"limit": 50})).json()["data"]
    assert sorted(i["metadata"]["format"] for i in images) == ["ecotaxa"] * 2 + ["ifcb"] * 5
