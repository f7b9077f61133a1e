"""The catalog's near-duplicate routes with the caller the gateway names: a person sees and settles
only the pairs of projects they may read and annotate; bad flags are refused by name. (The flags
themselves come from the worker's check: tests/worker/test_near_duplicates.py.)"""

from collections.abc import AsyncIterator

import pytest

from tests.support.catalog import Catalog, empty_catalog, upload
from tests.support.data import SampleImage


@pytest.fixture(autouse=True)
async def leave_the_catalog_empty(catalog_database_url: str) -> AsyncIterator[None]:
    yield
    await empty_catalog(catalog_database_url)


async def _project_images(catalog: Catalog, name: str, grants: list,
                          pictures: list[SampleImage]) -> list[int]:
    made = await catalog.client.post("/v1/projects", json={"name": name, "grants": grants})
    assert made.status_code == 201, made.text
    ids = []
    for picture in pictures:
        answer = await upload(catalog.client, picture, project_id=str(made.json()["id"]))
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids


async def test_pairs_are_scoped_to_the_callers_projects(catalog: Catalog, zoolake: list[SampleImage]):
    person = await catalog.client.post("/v1/annotators", json={"name": "Xavier", "institution": "X-Lab"})
    xavier = {"X-Nauplius-Annotator": str(person.json()["id"]), "X-Nauplius-Role": "annotator"}
    p = await _project_images(catalog, "lake-p", [{"institution": "X-Lab", "role": "annotator"}],
                              zoolake[:2])
    q = await _project_images(catalog, "lake-q", [], zoolake[2:4])
    flags = [{"image_id": p[1], "of_image_id": p[0], "cosine": 0.97},
             {"image_id": q[1], "of_image_id": q[0], "cosine": 0.99},
             {"image_id": 10**9, "of_image_id": p[0], "cosine": 0.99}]  # a deleted image: dropped
    flagged = await catalog.client.post("/v1/duplicates", json={"data": flags})
    assert flagged.json() == {"flagged": 2}, flagged.text
    again = await catalog.client.post("/v1/duplicates", json={"data": flags[:1]})
    assert again.json() == {"flagged": 0}  # an image keeps its first flag

    everyone = (await catalog.client.get("/v1/duplicates")).json()
    assert [pair["image"]["id"] for pair in everyone["data"]] == [q[1], p[1]]  # most alike first
    assert everyone["count"] == 2
    mine = (await catalog.client.get("/v1/duplicates", headers=xavier)).json()
    assert ([pair["image"]["id"] for pair in mine["data"]], mine["count"]) == ([p[1]], 1)

    refused = await catalog.client.post(f"/v1/duplicates/{q[1]}/merge", headers=xavier)
    assert refused.status_code == 403 and "project" in refused.json()["detail"], refused.text
    done = await catalog.client.post(f"/v1/duplicates/{p[1]}/dismiss", headers=xavier)
    assert done.status_code == 200 and done.json()["status"] == "dismissed", done.text
    dismissed = (await catalog.client.get("/v1/duplicates", params={"status": "dismissed"})).json()
    assert [pair["image"]["id"] for pair in dismissed["data"]] == [p[1]]


async def test_bad_flags_and_pages_are_refused_by_name(catalog: Catalog):
    for body, words in (({"data": [{"image_id": 1, "of_image_id": 2, "cosine": 1.5}]}, "cosine"),
                        ({"data": [{"image_id": 1, "cosine": 0.9}]}, "of_image_id")):
        answer = await catalog.client.post("/v1/duplicates", json=body)
        assert answer.status_code == 422 and words in answer.text, answer.text
    for params in ({"status": "closed"}, {"limit": 0}):
        answer = await catalog.client.get("/v1/duplicates", params=params)
        assert answer.status_code == 422, answer.text
