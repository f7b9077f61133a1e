"""The index outbox (written by a trigger in the label write's transaction) and job tasks (claimed
under a lease, with progress), over the real catalog app and PostgreSQL."""

from collections.abc import AsyncIterator

import pytest

from tests.support.catalog import Catalog, empty_catalog


@pytest.fixture(autouse=True)
async def leave_the_catalog_empty(catalog_database_url: str) -> AsyncIterator[None]:
    yield
    await empty_catalog(catalog_database_url)


async def _stored(catalog: Catalog, sample, indexed: bool = True) -> int:
    answer = await catalog.client.post("/v1/images", files={"file": (sample.path.name, sample.data)},
                                       data={"instrument": "SPC"})
    assert answer.status_code == 201, answer.text
    image_id = answer.json()["id"]
    if indexed:
        marked = await catalog.client.post(f"/v1/images/{image_id}/indexed", json={"model": "m"})
        assert marked.status_code == 200, marked.text
    return image_id


async def _claim(catalog: Catalog) -> list[dict]:
    answer = await catalog.client.post("/v1/index-outbox/claim", json={"limit": 100, "lease_s": 60})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


async def _label(catalog: Catalog, image_id: int, taxon: str) -> None:
    answer = await catalog.client.put(f"/v1/images/{image_id}/label", json={"taxon": taxon},
                                      params={"create_taxon": "true"})
    assert answer.status_code == 200, answer.text


async def test_a_label_write_queues_its_image_once_with_the_current_label(catalog: Catalog, zoolake):
    first, second = await _stored(catalog, zoolake[0]), await _stored(catalog, zoolake[1])
    assert await _claim(catalog) == []  # marking indexed changes no payload
    await _label(catalog, first, "daphnia")
    await _label(catalog, first, "copepod")
    batch = await catalog.client.post("/v1/labels/batch", params={"create_taxon": "true"},
                                      json={"image_ids": [first, second], "taxon": "rotifer"})
    assert batch.status_code == 200, batch.text
    entries = await _claim(catalog)
    assert sorted(e["image_id"] for e in entries) == [first, second]
    assert {e["image"]["label"] for e in entries} == {"rotifer"}
    assert await _claim(catalog) == []  # leased
    done = [{"image_id": e["image_id"], "version": e["version"]} for e in entries]
    settled = await catalog.client.post("/v1/index-outbox/settle", json={"done": done})
    assert settled.json() == {"removed": 2}
    assert (await catalog.client.get("/v1/index-outbox")).json() == {"pending": 0}


async def test_a_change_while_leased_survives_the_settle_of_the_older_version(catalog: Catalog,
                                                                              zoolake):
    image_id = await _stored(catalog, zoolake[0])
    await _label(catalog, image_id, "daphnia")
    (entry,) = await _claim(catalog)
    await _label(catalog, image_id, "copepod")  # after the claim: a newer version
    settled = await catalog.client.post("/v1/index-outbox/settle", json={
        "done": [{"image_id": image_id, "version": entry["version"]}]})
    assert settled.json() == {"removed": 0}
    retry = await catalog.client.post("/v1/index-outbox/settle", json={
        "retry": [{"image_id": image_id, "version": entry["version"] + 1000}], "error": "x"})
    assert retry.status_code == 200
    assert (await catalog.client.get("/v1/index-outbox")).json() == {"pending": 1}


async def test_an_image_not_yet_indexed_is_not_handed_out(catalog: Catalog, zoolake):
    image_id = await _stored(catalog, zoolake[0], indexed=False)
    await _label(catalog, image_id, "daphnia")
    assert await _claim(catalog) == []
    await catalog.client.post(f"/v1/images/{image_id}/indexed", json={"model": "m"})
    assert [e["image_id"] for e in await _claim(catalog)] == [image_id]


async def test_a_task_is_claimed_once_reports_progress_and_finishes_its_job(catalog: Catalog):
    created = await catalog.client.post("/v1/jobs", json={"kind": "suggestions",
                                                          "params": {"mode": "full"}})
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["kind"] == "suggestions" and job["task"]["status"] == "pending"
    assert not job["finished"]
    claim = {"kinds": ["suggestions"], "lease_s": 60}
    task = (await catalog.client.post("/v1/jobs/tasks/claim", json=claim)).json()["task"]
    assert task["id"] == job["id"] and task["params"] == {"mode": "full"} and task["attempts"] == 1
    assert (await catalog.client.post("/v1/jobs/tasks/claim", json=claim)).json()["task"] is None
    progress = await catalog.client.post(f"/v1/jobs/{job['id']}/task/progress",
                                         json={"done": 5, "total": 10, "lease_s": 60})
    assert progress.json()["task"]["done"] == 5 and progress.json()["task"]["total"] == 10
    finished = await catalog.client.post(f"/v1/jobs/{job['id']}/task/result",
                                         json={"outcome": "done", "result": {"changed": 3}})
    assert finished.json()["finished"] and finished.json()["task"]["result"] == {"changed": 3}
    again = await catalog.client.post(f"/v1/jobs/{job['id']}/task/result", json={"outcome": "done"})
    assert again.status_code == 409


async def test_a_retried_task_waits_for_its_back_off(catalog: Catalog):
    job = (await catalog.client.post("/v1/jobs", json={"kind": "reconcile"})).json()
    claim = {"kinds": ["reconcile"], "lease_s": 60}
    assert (await catalog.client.post("/v1/jobs/tasks/claim", json=claim)).json()["task"]
    retried = await catalog.client.post(f"/v1/jobs/{job['id']}/task/result",
                                        json={"outcome": "retry", "error": "search down",
                                              "retry_after_s": 3600})
    assert retried.json()["task"]["status"] == "pending"
    assert retried.json()["task"]["error"] == "search down"
    assert (await catalog.client.post("/v1/jobs/tasks/claim", json=claim)).json()["task"] is None


async def test_an_archive_job_waits_for_its_archive_and_refuses_one_over_the_limit(catalog: Catalog):
    claim = {"kinds": ["archive"], "lease_s": 60}
    job = (await catalog.client.post("/v1/jobs", json={"kind": "archive"})).json()
    assert job["task"]["status"] == "waiting" and not job["closed"]
    assert (await catalog.client.post("/v1/jobs/tasks/claim", json=claim)).json()["task"] is None
    staged = await catalog.client.put(f"/v1/jobs/{job['id']}/archive", content=b"PK\x03\x04 bytes")
    assert staged.status_code == 200, staged.text
    assert staged.json()["task"]["status"] == "pending"
    assert (await catalog.client.get(f"/v1/jobs/{job['id']}/archive")).content == b"PK\x03\x04 bytes"
    assert (await catalog.client.put(f"/v1/jobs/{job['id']}/archive", content=b"x")).status_code == 409

    catalog.settings.max_archive_bytes = 10
    big = (await catalog.client.post("/v1/jobs", json={"kind": "archive"})).json()
    refused = await catalog.client.put(f"/v1/jobs/{big['id']}/archive", content=b"y" * 11)
    assert refused.status_code == 413 and "archive over 10 bytes" in refused.text
    status = (await catalog.client.get(f"/v1/jobs/{big['id']}")).json()
    assert status["finished"] and status["task"]["status"] == "failed"
    assert not list((catalog.settings.data_dir / "staging" / "archives").glob(f"{big['id']}*"))


async def test_a_pending_incremental_refresh_takes_in_the_next_one(catalog: Catalog):
    incremental = {"kind": "suggestions", "params": {"mode": "incremental", "project": None}}
    first = (await catalog.client.post("/v1/jobs", json=incremental)).json()["id"]
    assert (await catalog.client.post("/v1/jobs", json=incremental)).json()["id"] == first
    full = {"kind": "suggestions", "params": {"mode": "full", "project": None}}
    assert (await catalog.client.post("/v1/jobs", json=full)).json()["id"] != first
    claim = {"kinds": ["suggestions"], "lease_s": 60}
    assert (await catalog.client.post("/v1/jobs/tasks/claim", json=claim)).json()["task"]["id"] == first
    # Once it runs, label changes after its start need a job of their own.
    assert (await catalog.client.post("/v1/jobs", json=incremental)).json()["id"] != first


async def test_a_merged_duplicate_is_queued_to_leave_the_index_and_has_no_index_row(
        catalog: Catalog, zoolake):
    kept, merged = await _stored(catalog, zoolake[0]), await _stored(catalog, zoolake[1])
    flag = await catalog.client.post("/v1/duplicates", json={
        "data": [{"image_id": merged, "of_image_id": kept, "cosine": 0.98}]})
    assert flag.status_code == 200, flag.text
    answer = await catalog.client.post(f"/v1/duplicates/{merged}/merge")
    assert answer.status_code == 200, answer.text
    [entry] = await _claim(catalog)
    assert (entry["image_id"], entry["image"]["duplicate_of"]) == (merged, kept)
    rows = (await catalog.client.get("/v1/images/index-rows", params={"after_id": 0})).json()
    assert [row["id"] for row in rows["data"]] == [kept]
