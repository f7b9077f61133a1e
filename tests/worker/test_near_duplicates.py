"""Near-duplicates through the real ingest path (issue #18): the worker over the real catalog
(PostgreSQL), embedder (ONNX) and search (Qdrant Edge) flags augmented copies of a real image and
not distinct organisms of its class; a merge leaves the duplicate out of exports and counts."""

import httpx
import pytest

from nauplius.core.clients.search import SearchClient
from tests.support.augment import reencoded, shifted
from tests.support.catalog import Catalog, closed_job, job_status
from tests.support.data import zoolake_images
from tests.support.services import ServiceRouter
from tests.support.worker import worker_over

SAMPLE = {"instrument": "SPC", "sample": "greifensee-2024-06-01"}


async def _ingest(catalog: Catalog, http: httpx.AsyncClient, files: list[tuple[str, bytes]],
                  **fields: str) -> dict[str, int]:
    """The files through one job and one worker batch; their image ids by name."""
    items = [{"source": f"drop/{name}", **SAMPLE, **fields} for name, _ in files]
    job_id = await closed_job(catalog, files, items)
    assert await worker_over(http).run_once()
    job = await job_status(catalog, job_id)
    assert job["finished"] and job["counts"]["done"] == len(files), job
    listed = await catalog.client.get("/v1/images", params={"limit": 100})
    ids = {image["filename"]: image["id"] for image in listed.json()["data"]}
    return {name: ids[name] for name, _ in files}


async def _open_pairs(catalog: Catalog) -> dict[int, dict]:
    answer = await catalog.client.get("/v1/duplicates")
    assert answer.status_code == 200, answer.text
    return {pair["image"]["id"]: pair for pair in answer.json()["data"]}


@pytest.fixture
def daphnia() -> list[tuple[str, bytes]]:
    return [(path.name, path.read_bytes()) for path in zoolake_images("daphnia", 3)]


async def test_copies_of_a_real_image_are_flagged_and_distinct_organisms_are_not(
    catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient, daphnia
):
    (name, data), *others = daphnia
    files = [(name, data), ("shifted.jpg", shifted(data)), ("reencoded.jpg", reencoded(data)), *others]
    ids = await _ingest(catalog, http, files)
    pairs = await _open_pairs(catalog)
    copies = {ids["shifted.jpg"], ids["reencoded.jpg"]}
    assert set(pairs) == copies, pairs  # the two other daphnia are distinct organisms
    for pair in pairs.values():
        assert pair["of_image"]["id"] in {ids[name]} | copies - {pair["image"]["id"]}
        assert pair["of_image"]["id"] < pair["image"]["id"]
        assert 0.96 <= pair["cosine"] <= 1.0 and pair["status"] == "open"


async def test_no_flag_across_samples_or_without_a_sample(
    catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient, daphnia
):
    (name, data), *_ = daphnia
    await _ingest(catalog, http, [(name, data)])
    await _ingest(catalog, http, [("other-sample.jpg", shifted(data))], sample="another-sample")
    await _ingest(catalog, http, [("no-sample.jpg", reencoded(data))], sample="")
    assert await _open_pairs(catalog) == {}


async def test_a_merged_duplicate_leaves_exports_and_counts_and_a_second_merge_is_refused(
    catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient, daphnia
):
    (name, data), *_ = daphnia
    ids = await _ingest(catalog, http, [(name, data), ("copy.jpg", shifted(data))],
                        label="daphnia", label_state="validated")
    client = catalog.client

    async def seen() -> tuple[int, int, set[int]]:
        counts = (await client.get("/v1/label-counts")).json()["validated"]
        listed = (await client.get("/v1/images", params={"label": "daphnia"})).json()
        exported = (await client.get("/v1/export-rows", params={"states": "validated"})).json()
        return counts, listed["count"], {row["id"] for row in exported["data"]} | {
            image["id"] for image in listed["data"]}

    assert await seen() == (2, 2, {ids[name], ids["copy.jpg"]})
    viewer = await client.post("/v1/annotators", json={"name": "Vera", "institution": "Eawag"})
    refused = await client.post(f"/v1/duplicates/{ids['copy.jpg']}/merge", headers={
        "X-Nauplius-Annotator": str(viewer.json()["id"]), "X-Nauplius-Role": "viewer"})
    assert refused.status_code == 403, refused.text

    merged = await client.post(f"/v1/duplicates/{ids['copy.jpg']}/merge")
    assert merged.status_code == 200, merged.text
    # Both validated: the image stored first keeps the label.
    assert (merged.json()["kept_id"], merged.json()["merged_id"]) == (ids[name], ids["copy.jpg"])
    assert await seen() == (1, 1, {ids[name]})
    assert await _open_pairs(catalog) == {}

    again = await client.post(f"/v1/duplicates/{ids['copy.jpg']}/merge")
    assert again.status_code == 409 and "already merged" in again.json()["detail"], again.text
    dismissed = await client.post(f"/v1/duplicates/{ids['copy.jpg']}/dismiss")
    assert dismissed.status_code == 409, dismissed.text
    unknown = await client.post(f"/v1/duplicates/{ids[name]}/merge")
    assert unknown.status_code == 404 and "not flagged" in unknown.json()["detail"], unknown.text


async def test_the_better_label_is_kept_and_a_dismissed_pair_leaves_the_queue(
    catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient, daphnia
):
    (name, data), (other, other_data), _ = daphnia
    first = await _ingest(catalog, http, [(name, data), (other, other_data)])
    copies = await _ingest(catalog, http, [("copy.jpg", shifted(data)),
                                           ("other-copy.jpg", reencoded(other_data))],
                           label="daphnia", label_state="validated")
    assert set(await _open_pairs(catalog)) == set(copies.values())
    merged = (await catalog.client.post(f"/v1/duplicates/{copies['copy.jpg']}/merge")).json()
    # The later copy is validated, the first image unlabelled: the copy keeps its label.
    assert (merged["kept_id"], merged["merged_id"]) == (copies["copy.jpg"], first[name])
    dismissed = await catalog.client.post(f"/v1/duplicates/{copies['other-copy.jpg']}/dismiss")
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    assert await _open_pairs(catalog) == {}
    listed = (await catalog.client.get("/v1/images", params={"limit": 100})).json()
    assert {image["id"] for image in listed["data"]} == {
        copies["copy.jpg"], copies["other-copy.jpg"], first[other]}


async def test_a_failed_check_is_logged_and_the_batch_is_ingested_anyway(
    catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient, daphnia,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
):
    # The one liberty: the search service refusing the check's query alone (its upsert of the same
    # batch must go through, which no real outage does on cue).
    async def refused(*args: object, **kwargs: object) -> None:
        raise RuntimeError("query refused")

    monkeypatch.setattr(SearchClient, "query_batch", refused)
    (name, data), *_ = daphnia
    ids = await _ingest(catalog, http, [(name, data), ("copy.jpg", shifted(data))])
    assert len(ids) == 2
    assert await _open_pairs(catalog) == {}
    assert "near-duplicate check of 2 images failed" in caplog.text
