"""The catalog's /v1/jobs routes and the ingest worker over them: intake checks, closed jobs,
back-off to failure, leases that run out, and two workers sharing one job."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from nauplius.core.clients import Downstream
from nauplius.core.contracts.catalog import JOB_ITEM_FIELDS, UploadEntry
from services.catalog.jobs import item_fields
from services.worker.config import WorkerSettings
from services.worker.worker import FORM_FIELDS, IngestWorker
from tests.catalog.conftest import Catalog, empty_catalog


@pytest.fixture(autouse=True)
async def leave_the_catalog_empty(catalog_database_url: str) -> AsyncIterator[None]:
    """The session database is shared with tests that expect no images: remove what jobs stored."""
    yield
    await empty_catalog(catalog_database_url)


async def new_job(catalog: Catalog) -> int:
    answer = await catalog.client.post("/v1/jobs", json={"source": "test"})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


async def add(catalog: Catalog, job_id: int, files: list[tuple[str, bytes]],
              items: Any = None) -> httpx.Response:
    data = {} if items is None else {"items": items if isinstance(items, str) else json.dumps(items)}
    return await catalog.client.post(f"/v1/jobs/{job_id}/items", data=data,
                                     files=[("files", f) for f in files] or None)


async def status(catalog: Catalog, job_id: int) -> dict[str, Any]:
    return (await catalog.client.get(f"/v1/jobs/{job_id}")).json()


def staged(catalog: Catalog) -> list[Path]:
    return [p for p in (catalog.settings.data_dir / "staging").rglob("*") if p.is_file()]


async def test_empty_file_is_a_failed_item_and_stages_nothing(catalog: Catalog, zoolake):
    job_id = await new_job(catalog)
    answer = await add(catalog, job_id, [("empty.png", b""), ("fish.jpg", zoolake[0].data)],
                       [{"source": "drop/empty.png"}, {"source": "drop/fish.jpg"}])
    assert answer.json() == {"accepted": 1, "refused": 1}
    job = await status(catalog, job_id)
    assert job["counts"]["failed"] == 1 and job["counts"]["pending"] == 1
    assert job["errors"] == [{"source": "drop/empty.png", "filename": "empty.png",
                              "error": "empty file"}]
    assert [p.name for p in staged(catalog)] == [zoolake[0].sha256]


async def test_closed_job_takes_no_more_items(catalog: Catalog, zoolake):
    job_id = await new_job(catalog)
    closed = await catalog.client.post(f"/v1/jobs/{job_id}/close")
    assert closed.json()["closed"] and closed.json()["finished"]  # nothing open: finished at once
    answer = await add(catalog, job_id, [("fish.jpg", zoolake[0].data)])
    assert answer.status_code == 409
    assert f"job {job_id} is closed" in answer.json()["detail"]
    assert (await status(catalog, job_id))["total"] == 0
    missing = await add(catalog, job_id + 1000, [("fish.jpg", zoolake[0].data)])
    assert missing.status_code == 404


@pytest.mark.parametrize(("items", "problem"), [
    ("[{", "items: Invalid JSON"),
    ('{"a": 1}', "items: Input should be a valid array"),
    ('["x"]', "items[0]: must be a JSON object"),
    ('[{"label_state": "sure"}]', "items[0].label_state: Input should be 'predicted'"),
    ('[{}, {"colour": "red"}]', "items[1].colour: unknown field"),
    ('[{"project_id": 2}]', "items[0].project_id: not a field of a job item"),
    # The store's own rules, checked at intake (they once failed only later, in the worker):
    ('[{"label": 5}]', "items[0].label: Input should be a valid string"),
    ('[{"label": "' + "x" * 501 + '"}]', "items[0].label: is longer than 500 characters"),
    ('[{"sample": "lake\\u0000"}]', "items[0].sample: contains a NUL character"),
    ('[{"label": "fish", "label_state": "unlabelled"}]', "items[0]: label_state 'unlabelled' takes no label"),
    ('[{"metadata": [1]}]', "items[0].metadata: must be a JSON object"),
    ('[{"captured_at": "yesterday"}]', "items[0].captured_at: is not an ISO 8601"),
    ('[{"captured_at": 1700000000}]', "items[0].captured_at: must be an ISO 8601 date-time string"),
    ('[{"source": 7}]', "items[0].source: Input should be a valid string"),
    ('[{"metadata": {"depth_m": NaN}}]', "items[0].metadata: holds a number JSON cannot represent"),
])
async def test_bad_items_json_records_and_stages_nothing(catalog: Catalog, zoolake, items, problem):
    job_id = await new_job(catalog)
    answer = await add(catalog, job_id, [("fish.jpg", zoolake[0].data)], items)
    assert answer.status_code == 422
    assert problem in answer.json()["detail"]
    assert (await status(catalog, job_id))["total"] == 0
    assert staged(catalog) == []


def test_the_worker_forwards_every_field_job_intake_keeps():
    """Intake stores an item's fields for the worker, which sends only the keys it knows on to the
    store: a field intake kept but the worker dropped would be lost without a word."""
    fields = item_fields(UploadEntry(filename="a.jpg", label="fish", label_state="predicted",
                                     instrument="IFCB", sample="D1", metadata={"depth_m": 3},
                                     captured_at="2026-11-27T10:00:00Z"))
    assert set(fields) == set(JOB_ITEM_FIELDS) == set(FORM_FIELDS)
    assert fields["captured_at"] == "2026-11-27T10:00:00+00:00"


async def test_an_item_without_label_state_or_with_blank_fields_is_taken(catalog: Catalog, zoolake):
    """An archive's entries name every field, null when the source says nothing."""
    job_id = await new_job(catalog)
    entry = {"filename": "a.jpg", "source": "drop.zip!a.jpg", "label": None, "label_state": None,
             "instrument": "  ", "sample": None, "captured_at": "2026-11-27T10:00:00",
             "metadata": {}}
    answer = await add(catalog, job_id, [("a.jpg", zoolake[0].data)], [entry])
    assert answer.json() == {"accepted": 1, "refused": 0}, answer.text
    [item] = (await catalog.client.post("/v1/jobs/claim", json={"lease_s": 60})).json()["data"]
    assert item["fields"] == {"captured_at": "2026-11-27T10:00:00+00:00", "metadata": {}}


async def test_lease_running_out_lets_another_worker_retake_the_item(catalog: Catalog, zoolake):
    job_id = await new_job(catalog)
    await add(catalog, job_id, [("fish.jpg", zoolake[0].data)])
    first = (await catalog.client.post("/v1/jobs/claim", json={"lease_s": 0.3})).json()["data"]
    assert [item["attempts"] for item in first] == [1]
    held = await catalog.client.post("/v1/jobs/claim", json={"lease_s": 60})
    assert held.json()["data"] == []  # leased: nobody else gets it
    await asyncio.sleep(0.5)
    second = (await catalog.client.post("/v1/jobs/claim", json={"lease_s": 60})).json()["data"]
    assert [(item["id"], item["attempts"]) for item in second] == [(first[0]["id"], 2)]
    settle = {"results": [{"id": first[0]["id"], "outcome": "failed", "error": "second says"}]}
    settled = (await catalog.client.post("/v1/jobs/items/results", json=settle)).json()
    assert settled == {"updated": 1, "released": 0}  # a failed item keeps its bytes
    # The first worker's late answer finds the item settled and changes nothing.
    late = {"results": [{"id": first[0]["id"], "outcome": "retry", "error": "first says"}]}
    assert (await catalog.client.post("/v1/jobs/items/results", json=late)).json()["updated"] == 0
    assert (await status(catalog, job_id))["errors"][0]["error"] == "second says"


class ServiceRouter(httpx.AsyncBaseTransport):
    """http://<name> reaches the in-process app of that name; other hosts are refused."""

    def __init__(self, apps: dict[str, Any]) -> None:
        self._transports = {name: httpx.ASGITransport(app=app) for name, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transports.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"{request.url.host} is down", request=request)
        return await transport.handle_async_request(request)


def worker_over(http: httpx.AsyncClient, **settings: Any) -> IngestWorker:
    current = WorkerSettings(embedder_url="http://embedder", search_url="http://search",
                             catalog_url="http://catalog", **settings)
    return IngestWorker(current, Downstream.over(http, current.embedder_url, current.search_url,
                                                 current.catalog_url))


async def test_back_off_ends_failed_with_the_reason_after_max_attempts(catalog: Catalog, zoolake):
    job_id = await new_job(catalog)
    await add(catalog, job_id, [(s.path.name, s.data) for s in zoolake[:2]])
    await catalog.client.post(f"/v1/jobs/{job_id}/close")
    router = ServiceRouter({"catalog": catalog.app})  # the embedder and search are down
    async with httpx.AsyncClient(transport=router) as http:
        worker = worker_over(http, max_attempts=3, max_backoff_s=0.1)
        rounds = 0
        while not (await status(catalog, job_id))["finished"]:
            rounds += await worker.run_once()
            await asyncio.sleep(0.05)
    assert rounds == 3
    job = await status(catalog, job_id)
    assert job["counts"]["failed"] == 2 and job["counts"]["done"] == 0
    assert all(e["error"].startswith("gave up after 3 attempts: ") and "embedder" in e["error"]
               for e in job["errors"]), job["errors"]
    assert len(staged(catalog)) == 2  # failed items keep their bytes, to look into or ingest again


@pytest.fixture
async def services(catalog: Catalog, tmp_path: Path, monkeypatch) -> AsyncIterator[ServiceRouter]:
    """The real embedder and search apps beside the catalog fixture, in-process."""
    monkeypatch.setenv("EMBEDDER_THREADS", "2")
    monkeypatch.setenv("SEARCH_DATA_DIR", str(tmp_path / "search"))
    from services.embedder.main import app as embedder_app
    from services.search.main import app as search_app
    async with AsyncExitStack() as stack:
        for app in (embedder_app, search_app):
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield ServiceRouter({"embedder": embedder_app, "search": search_app, "catalog": catalog.app})


async def test_two_workers_at_once_settle_every_item_exactly_once(
    catalog: Catalog, services: ServiceRouter, shared_data: Path
):
    images = sorted((shared_data / "ndsb" / "copepod_calanoid").iterdir())[:20]
    files = [(p.name, p.read_bytes()) for p in images] + [(images[0].name, images[0].read_bytes())]
    job_id = await new_job(catalog)
    await add(catalog, job_id, files)
    await catalog.client.post(f"/v1/jobs/{job_id}/close")

    async def drain(worker: IngestWorker) -> None:
        while not (await status(catalog, job_id))["finished"]:
            if not await worker.run_once():
                await asyncio.sleep(0.05)

    async with httpx.AsyncClient(transport=services) as one, httpx.AsyncClient(transport=services) as two:
        workers = [worker_over(one, batch_size=3), worker_over(two, batch_size=3)]
        await asyncio.wait_for(asyncio.gather(*(drain(w) for w in workers)), timeout=120)
    assert all(w.settled > 0 for w in workers), [w.settled for w in workers]
    assert sum(w.settled for w in workers) == 21  # each item settled once, never twice
    assert all(w.seconds["embedder"] > 0 and w.seconds["search"] > 0 and w.seconds["catalog"] > 0
               for w in workers), [dict(w.seconds) for w in workers]
    job = await status(catalog, job_id)
    assert job["counts"] == {"pending": 0, "running": 0, "done": 20, "duplicate": 1, "failed": 0}
    assert await catalog.row_count() == 20
    async with httpx.AsyncClient(transport=services) as http:
        model = (await http.get("http://embedder/v1/model")).json()["name"]
        count = (await http.get(f"http://search/v1/collections/{model}/count")).json()["count"]
    assert count == 20
    # Every item is done or a duplicate: the image store holds the bytes, staging holds nothing.
    assert staged(catalog) == []


async def test_idle_workers_index_stored_images_the_active_model_lacks(
    catalog: Catalog, services: ServiceRouter, shared_data: Path
):
    """As after switching the embedder to another model: images stored before (here straight into
    the catalog, indexed in no model) are embedded from their stored bytes and indexed once."""
    images = sorted((shared_data / "zoolake" / "daphnia").iterdir())[:5]
    ids = []
    for path in images:
        stored = await catalog.client.post("/v1/images", files={"file": (path.name, path.read_bytes())})
        ids.append(stored.json()["id"])
    lost = (await catalog.client.get(f"/v1/images/{ids[0]}")).json()
    for file in (catalog.settings.data_dir / "images").rglob(f"{lost['sha256']}.*"):
        file.unlink()  # its bytes are gone: skipped, the others still indexed
    async with httpx.AsyncClient(transport=services) as http:
        worker = worker_over(http, batch_size=2)
        rounds = 0
        while await worker.reindex_once():
            rounds += 1
        assert rounds == 3 and worker.reindexed == 4
        assert not await worker.reindex_once()  # one pass per model: nothing more to do
        model = (await http.get("http://embedder/v1/model")).json()["name"]
        count = (await http.get(f"http://search/v1/collections/{model}/count")).json()["count"]
    assert count == 4
    left = (await catalog.client.get("/v1/images/unindexed", params={"model": model})).json()["data"]
    assert [image["id"] for image in left] == [ids[0]]
