"""The catalog's /v1/jobs routes: intake checks, closed jobs, items' fields as the worker gets
them, and leases that run out. The ingest worker's rounds over these routes are tests/worker's."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from nauplius.core.contracts.catalog import JOB_ITEM_FIELDS, UploadEntry
from services.catalog.jobs import item_fields
from services.worker.worker import FORM_FIELDS
from tests.support.catalog import Catalog, add_items, empty_catalog, job_status, new_job


@pytest.fixture(autouse=True)
async def leave_the_catalog_empty(catalog_database_url: str) -> AsyncIterator[None]:
    """The session database is shared with tests that expect no images: remove what jobs stored."""
    yield
    await empty_catalog(catalog_database_url)


async def test_empty_file_is_a_failed_item_and_stages_nothing(catalog: Catalog, zoolake):
    job_id = await new_job(catalog)
    answer = await add_items(catalog, job_id, [("empty.png", b""), ("fish.jpg", zoolake[0].data)],
                             [{"source": "drop/empty.png"}, {"source": "drop/fish.jpg"}])
    assert answer.json() == {"accepted": 1, "refused": 1}
    job = await job_status(catalog, job_id)
    assert job["counts"]["failed"] == 1 and job["counts"]["pending"] == 1
    assert job["errors"] == [{"source": "drop/empty.png", "filename": "empty.png",
                              "error": "empty file"}]
    assert [p.name for p in catalog.staged_files()] == [zoolake[0].sha256]


async def test_closed_job_takes_no_more_items(catalog: Catalog, zoolake):
    job_id = await new_job(catalog)
    closed = await catalog.client.post(f"/v1/jobs/{job_id}/close")
    assert closed.json()["closed"] and closed.json()["finished"]  # nothing open: finished at once
    answer = await add_items(catalog, job_id, [("fish.jpg", zoolake[0].data)])
    assert answer.status_code == 409
    assert f"job {job_id} is closed" in answer.json()["detail"]
    assert (await job_status(catalog, job_id))["total"] == 0
    missing = await add_items(catalog, job_id + 1000, [("fish.jpg", zoolake[0].data)])
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
    answer = await add_items(catalog, job_id, [("fish.jpg", zoolake[0].data)], items)
    assert answer.status_code == 422
    assert problem in answer.json()["detail"]
    # No item of the request is recorded; the refusal closes the job, as its one failed item.
    job = await job_status(catalog, job_id)
    assert job["closed"] and job["total"] == job["counts"]["failed"] == 1
    assert problem in job["errors"][0]["error"]
    assert catalog.staged_files() == []


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
    entry: dict[str, Any] = {
        "filename": "a.jpg", "source": "drop.zip!a.jpg", "label": None, "label_state": None,
        "instrument": "  ", "sample": None, "captured_at": "2026-11-27T10:00:00", "metadata": {}}
    answer = await add_items(catalog, job_id, [("a.jpg", zoolake[0].data)], [entry])
    assert answer.json() == {"accepted": 1, "refused": 0}, answer.text
    [item] = (await catalog.client.post("/v1/jobs/claim", json={"lease_s": 60})).json()["data"]
    assert item["fields"] == {"captured_at": "2026-11-27T10:00:00+00:00", "metadata": {}}


async def test_lease_running_out_lets_another_worker_retake_the_item(catalog: Catalog, zoolake):
    job_id = await new_job(catalog)
    await add_items(catalog, job_id, [("fish.jpg", zoolake[0].data)])
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
    assert (await job_status(catalog, job_id))["errors"][0]["error"] == "second says"


async def test_an_item_whose_workers_keep_dying_fails_after_max_item_claims(catalog: Catalog, zoolake):
    """A poison input that kills every worker taking it (nothing ever settles it) must not be
    taken forever: once its lease has run out max_item_claims times it fails with the reason."""
    job_id = await new_job(catalog)
    await add_items(catalog, job_id, [("fish.jpg", zoolake[0].data), ("other.jpg", zoolake[1].data)])
    await catalog.client.post(f"/v1/jobs/{job_id}/close")
    claims = catalog.settings.max_item_claims
    for _ in range(claims):
        taken = (await catalog.client.post("/v1/jobs/claim", json={"limit": 1, "lease_s": 0.01})).json()
        assert [item["filename"] for item in taken["data"]] == ["fish.jpg"]
        await asyncio.sleep(0.05)  # the worker "died": its lease runs out
    # The next claim gives up on fish.jpg and hands out the other item instead.
    taken = (await catalog.client.post("/v1/jobs/claim", json={"limit": 1, "lease_s": 60})).json()
    assert [item["filename"] for item in taken["data"]] == ["other.jpg"]
    job = await job_status(catalog, job_id)
    assert job["counts"]["failed"] == 1 and job["counts"]["running"] == 1
    assert job["errors"][0]["error"] == (
        f"gave up: taken {claims} times by workers that stopped before settling it")

