"""Model versions over the real catalog app and PostgreSQL: a reembed job queued once, its
progress, the switch refused until the version is complete, and switching back."""

from typing import Any

from tests.support.catalog import Catalog

OLD = {"name": "model-a", "output_dim": 4}


async def _ok(answer: Any, status: int = 200) -> dict:
    assert answer.status_code == status, answer.text
    body: dict = answer.json()
    return body


async def _queue(catalog: Catalog, name: str = "model-b") -> dict:
    return await _ok(await catalog.client.post(f"/v1/models/{name}/reembed",
                                               json={"output_dim": 4, "current": OLD}), 202)


async def _progress(catalog: Catalog, job_id: int, done: int, complete: bool = False,
                    name: str = "model-b") -> Any:
    return await catalog.client.post(f"/v1/models/{name}/progress", json={
        "job_id": job_id, "done": done, "total": 3, "after_id": done, "complete": complete})


async def test_no_version_is_recorded_before_a_first_reembed(catalog: Catalog):
    assert await _ok(await catalog.client.get("/v1/models")) == {"data": [], "active": None}


async def test_a_reembed_records_the_version_in_use_and_queues_one_job(catalog: Catalog):
    queued = await _queue(catalog)
    assert queued["queued"] is True and queued["version"]["state"] == "filling"
    again = await _queue(catalog)
    assert again["queued"] is False and again["job_id"] == queued["job_id"]
    listed = await _ok(await catalog.client.get("/v1/models"))
    assert listed["active"] == "model-a"
    by_name = {v["name"]: v for v in listed["data"]}
    assert by_name["model-a"]["state"] == "complete" and by_name["model-a"]["active"] is True
    assert by_name["model-b"]["active"] is False and by_name["model-b"]["job_id"] == queued["job_id"]
    claim = await _ok(await catalog.client.post("/v1/jobs/tasks/claim",
                                                json={"kinds": ["reembed"], "lease_s": 60}))
    assert claim["task"]["id"] == queued["job_id"] and claim["task"]["params"] == {"model": "model-b"}


async def test_the_switch_waits_for_a_complete_collection_and_back_is_instant(catalog: Catalog,
                                                                              zoolake):
    stored = await _ok(await catalog.client.post(
        "/v1/images", files={"file": (zoolake[0].path.name, zoolake[0].data)}), 201)
    await _ok(await catalog.client.post(f"/v1/images/{stored['id']}/indexed",
                                        json={"model": "model-a"}))
    job_id = (await _queue(catalog))["job_id"]
    refused = await catalog.client.post("/v1/models/model-b/activate")
    assert refused.status_code == 409
    assert "not complete: 0 of ? stored images" in refused.json()["detail"]
    halfway = await _ok(await _progress(catalog, job_id, 2))
    assert (halfway["done"], halfway["total"], halfway["after_id"]) == (2, 3, 2)
    assert "2 of 3" in (await catalog.client.post("/v1/models/model-b/activate")).json()["detail"]
    stale = await _progress(catalog, job_id + 1000, 3, complete=True)
    assert stale.status_code == 409 and f"job {job_id + 1000}" in stale.json()["detail"]
    done = await _ok(await _progress(catalog, job_id, 3, complete=True))
    assert done["state"] == "complete" and done["completed_at"] is not None
    assert (await _progress(catalog, job_id, 3)).status_code == 409  # no longer filling

    switched = await _ok(await catalog.client.post("/v1/models/model-b/activate"))
    assert switched["active"] is True
    listed = await _ok(await catalog.client.get("/v1/models"))
    assert listed["active"] == "model-b"
    image = await _ok(await catalog.client.get(f"/v1/images/{stored['id']}"))
    assert image["indexed_model"] == "model-b"  # nothing for the re-index pass to redo

    back = await _ok(await catalog.client.post("/v1/models/model-a/activate"))
    assert back["active"] is True
    assert (await _ok(await catalog.client.get("/v1/models")))["active"] == "model-a"
    image = await _ok(await catalog.client.get(f"/v1/images/{stored['id']}"))
    assert image["indexed_model"] == "model-a"


async def test_refusals_name_the_problem(catalog: Catalog):
    await _queue(catalog)
    active = await catalog.client.post("/v1/models/model-a/reembed", json={"output_dim": 4})
    assert active.status_code == 409 and "model-a is the active version" in active.json()["detail"]
    unknown = await catalog.client.post("/v1/models/model-z/activate")
    assert unknown.status_code == 404 and "model-z" in unknown.json()["detail"]
    bad = await catalog.client.post("/v1/models/Bad Name!/activate")
    assert bad.status_code == 422
    annotator = await catalog.client.post(
        "/v1/models/model-b/reembed", json={"output_dim": 4},
        headers={"X-Nauplius-Annotator": "1", "X-Nauplius-Role": "annotator"})
    assert annotator.status_code == 403 and "admin" in annotator.json()["detail"]


# --- retiring a version ------------------------------------------------------------------------
async def test_retiring_refuses_the_active_version_and_unknown_names(catalog: Catalog):
    await _queue(catalog)
    active = await catalog.client.delete("/v1/models/model-a")
    assert active.status_code == 409
    assert "model-a is the active version: switch to another version first" in active.json()["detail"]
    unknown = await catalog.client.delete("/v1/models/model-z")
    assert unknown.status_code == 404 and "model-z" in unknown.json()["detail"]
    annotator = await catalog.client.delete(
        "/v1/models/model-b", headers={"X-Nauplius-Annotator": "1", "X-Nauplius-Role": "annotator"})
    assert annotator.status_code == 403 and "admin" in annotator.json()["detail"]
    listed = await _ok(await catalog.client.get("/v1/models"))
    assert [v["name"] for v in listed["data"]] == ["model-a", "model-b"]


async def test_retiring_a_filling_version_fails_its_job_and_refuses_its_worker(catalog: Catalog):
    job_id = (await _queue(catalog))["job_id"]
    claim = await _ok(await catalog.client.post("/v1/jobs/tasks/claim",
                                                json={"kinds": ["reembed"], "lease_s": 60}))
    assert claim["task"]["id"] == job_id
    await _ok(await _progress(catalog, job_id, 1))

    retired = await _ok(await catalog.client.delete("/v1/models/model-b"))
    assert retired["version"]["name"] == "model-b" and retired["version"]["state"] == "filling"
    assert retired["job_ended"] == job_id
    listed = await _ok(await catalog.client.get("/v1/models"))
    assert [v["name"] for v in listed["data"]] == ["model-a"]
    job = await _ok(await catalog.client.get(f"/v1/jobs/{job_id}"))
    assert job["task"]["status"] == "failed" and job["finished"] is True
    assert "model-b was retired" in job["task"]["error"]

    # The worker still running it: its next reports are refused, and it cannot end it 'done'.
    assert (await _progress(catalog, job_id, 2)).status_code == 404
    lease = await catalog.client.post(f"/v1/jobs/{job_id}/task/progress",
                                      json={"done": 2, "total": 3, "lease_s": 60})
    assert lease.status_code == 409
    result = await catalog.client.post(f"/v1/jobs/{job_id}/task/result",
                                       json={"outcome": "done", "result": {}})
    assert result.status_code == 409
    job = await _ok(await catalog.client.get(f"/v1/jobs/{job_id}"))
    assert job["task"]["status"] == "failed"

    # Re-queued, it fills again from the start with a job of its own.
    again = await _queue(catalog)
    assert again["queued"] is True and again["job_id"] != job_id
    assert (again["version"]["done"], again["version"]["after_id"]) == (0, 0)


async def test_retiring_a_complete_version_leaves_the_active_one(catalog: Catalog):
    job_id = (await _queue(catalog))["job_id"]
    await _ok(await _progress(catalog, job_id, 3, complete=True))
    retired = await _ok(await catalog.client.delete("/v1/models/model-b"))
    assert retired["version"]["state"] == "complete" and retired["job_ended"] is None
    listed = await _ok(await catalog.client.get("/v1/models"))
    assert listed["active"] == "model-a" and [v["name"] for v in listed["data"]] == ["model-a"]
    assert (await catalog.client.delete("/v1/models/model-b")).status_code == 404
