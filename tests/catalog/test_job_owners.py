"""Only a job's creator or an admin adds items to it or closes it (the catalog's /v1/jobs with
the caller the gateway names); anyone else gets a 403 saying why, and nothing is stored."""

from collections.abc import AsyncIterator

import pytest

from tests.support.catalog import Catalog, add_items, empty_catalog, job_status


@pytest.fixture(autouse=True)
async def leave_the_catalog_empty(catalog_database_url: str) -> AsyncIterator[None]:
    yield
    await empty_catalog(catalog_database_url)


async def _person(catalog: Catalog, name: str, role: str) -> dict[str, str]:
    """The headers the gateway sends for a person of the lab holding a key of `role`."""
    made = await catalog.client.post("/v1/annotators", json={"name": name, "institution": "Eawag"})
    assert made.status_code == 201, made.text
    return {"X-Nauplius-Annotator": str(made.json()["id"]), "X-Nauplius-Role": role}


async def test_only_the_creator_or_an_admin_adds_to_or_closes_a_job(catalog: Catalog, zoolake):
    alice, bob = await _person(catalog, "Alice", "annotator"), await _person(catalog, "Bob", "annotator")
    admin = await _person(catalog, "Ada", "admin")
    job = (await catalog.client.post("/v1/jobs", json={"source": "alice"}, headers=alice)).json()
    assert job["created_by"] == int(alice["X-Nauplius-Annotator"])
    url = f"/v1/jobs/{job['id']}"
    files = [("files", (zoolake[0].path.name, zoolake[0].data))]

    added = await catalog.client.post(f"{url}/items", files=files, headers=bob)
    assert added.status_code == 403
    assert "for its creator" in added.json()["detail"] and str(job["id"]) in added.json()["detail"]
    closed = await catalog.client.post(f"{url}/close", headers=bob)
    assert closed.status_code == 403 and "closing" in closed.json()["detail"]
    status = await job_status(catalog, job["id"])
    assert (status["total"], status["closed"]) == (0, False)
    assert catalog.staged_files() == []

    assert (await catalog.client.post(f"{url}/items", files=files, headers=alice)).status_code == 200
    files = [("files", (zoolake[1].path.name, zoolake[1].data))]
    assert (await catalog.client.post(f"{url}/items", files=files, headers=admin)).status_code == 200
    assert (await catalog.client.post(f"{url}/close", headers=admin)).status_code == 200
    status = await job_status(catalog, job["id"])
    assert (status["total"], status["closed"]) == (2, True)


async def test_a_job_without_a_recorded_creator_is_an_admins(catalog: Catalog, zoolake):
    """A job the command line made (no annotator) takes items from services and admins only."""
    bob = await _person(catalog, "Bob", "annotator")
    job = (await catalog.client.post("/v1/jobs", json={"source": "cli"})).json()
    added = await add_items(catalog, job["id"], [(zoolake[0].path.name, zoolake[0].data)])
    assert added.status_code == 200  # the service's own call
    closed = await catalog.client.post(f"/v1/jobs/{job['id']}/close", headers=bob)
    assert closed.status_code == 403 and "nobody recorded" in closed.json()["detail"]


async def test_a_role_header_without_an_annotator_is_refused(catalog: Catalog):
    answer = await catalog.client.post("/v1/jobs", json={}, headers={"X-Nauplius-Role": "viewer"})
    assert answer.status_code == 422 and "X-Nauplius-Annotator" in answer.json()["detail"]
