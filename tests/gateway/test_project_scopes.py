"""Ownership and project scopes through the gateway with API keys on, over the real catalog
(PostgreSQL), search (Qdrant Edge) and embedder (ONNX) apps in-process, on real ZooLake images.

Two institutions share one install: Eawag annotates projects P and Q, X-Lab is granted P only.
One stack serves the module; tests that change grants put them back.
"""

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from gateway.config import GatewaySettings
from tests.support.data import zoolake_images
from tests.support.gateway import running_gateway
from tests.support.services import ServiceRouter, in_process_services

pytestmark = pytest.mark.asyncio(loop_scope="module")

PER_PROJECT = 3


class Install:
    gw: httpx.AsyncClient
    services: ServiceRouter
    admin: dict[str, str]
    ann: dict[str, str]  # Eawag
    ben: dict[str, str]  # Eawag
    xavier: dict[str, str]  # X-Lab
    p: int
    q: int
    p_images: list[int]
    q_images: list[int]
    q_file: Path


def _key(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _person(install: Install, name: str, institution: str) -> dict[str, str]:
    gw, admin = install.gw, install.admin
    person = await gw.post("/api/v1/annotators", headers=admin,
                           json={"name": name, "institution": institution})
    assert person.status_code == 201, person.text
    key = await gw.post("/api/v1/api-keys", headers=admin,
                        json={"annotator_id": person.json()["id"], "role": "annotator"})
    assert key.status_code == 201, key.text
    return _key(key.json()["key"])


async def _project(install: Install, name: str, institutions: list[str]) -> int:
    grants = [{"institution": i, "role": "annotator"} for i in institutions]
    made = await install.gw.post("/api/v1/projects", headers=install.admin,
                                 json={"name": name, "grants": grants})
    assert made.status_code == 201, made.text
    return made.json()["id"]


async def _upload(install: Install, paths: list[Path], label: str, project: int) -> list[int]:
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
    answer = await install.gw.post("/api/v1/images", headers=install.admin, files=files,
                                   data={"label": label, "project": str(project)})
    assert answer.status_code == 200, answer.text
    assert all(e["error"] is None for e in answer.json()["data"]), answer.text
    return [e["id"] for e in answer.json()["data"]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def install(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Install]:
    tmp = tmp_path_factory.mktemp("scopes")
    key_file = tmp / "admin-api-key"
    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(in_process_services(tmp, "nauplius_scopes"))
        settings = GatewaySettings(embedder_url="http://embedder", search_url="http://search",
                                   catalog_url="http://catalog", auth="on")
        install = Install()
        install.services = services
        install.gw = await stack.enter_async_context(running_gateway(settings, install.services))
        install.admin = _key(key_file.read_text().strip())
        install.ann = await _person(install, "Ann", "Eawag")
        install.ben = await _person(install, "Ben", "Eawag")
        install.xavier = await _person(install, "Xavier", "X-Lab")
        install.p = await _project(install, "lake-p", ["Eawag", "X-Lab"])
        install.q = await _project(install, "lake-q", ["Eawag"])
        install.p_images = await _upload(install, zoolake_images("daphnia", PER_PROJECT),
                                         "daphnia", install.p)
        q_paths = zoolake_images("bosmina", PER_PROJECT)
        install.q_images = await _upload(install, q_paths, "bosmina", install.q)
        install.q_file = q_paths[0]
        yield install


# --- jobs belong to whoever sent them ----------------------------------------------------------
async def test_another_annotators_job_takes_nothing_from_them(install: Install) -> None:
    gw = install.gw
    [first, second] = zoolake_images("keratella_quadrata", 2)
    files = [("files", (first.name, first.read_bytes(), "image/jpeg"))]
    job = await gw.post("/api/v1/jobs", headers=install.ann, files=files,
                        data={"keep_open": "true"})
    assert job.status_code == 201, job.text
    url = f"/api/v1/jobs/{job.json()['id']}"

    more = [("files", (second.name, second.read_bytes(), "image/jpeg"))]
    added = await gw.post(f"{url}/items", headers=install.ben, files=more)
    assert added.status_code == 403, added.text
    assert "for its creator" in added.json()["detail"]
    closed = await gw.post(f"{url}/close", headers=install.ben)
    assert closed.status_code == 403 and "closing" in closed.json()["detail"]
    status = (await gw.get(url, headers=install.ben)).json()
    assert (status["total"], status["closed"]) == (1, False)  # nothing of Ben's went in

    assert (await gw.post(f"{url}/items", headers=install.admin, files=more)).status_code == 200
    closed = await gw.post(f"{url}/close", headers=install.admin)
    assert closed.status_code == 200 and closed.json()["closed"] and closed.json()["total"] == 2


# --- a project's images are for those it grants a role -----------------------------------------
async def test_an_annotator_of_one_project_cannot_relabel_another(install: Install) -> None:
    gw, x, q_image = install.gw, install.xavier, install.q_images[0]
    relabel = await gw.put(f"/api/v1/images/{q_image}/label", headers=x,
                           json={"taxon": "daphnia"})
    assert relabel.status_code == 403
    assert f"annotator role in project {install.q}" in relabel.json()["detail"]
    batch = await gw.post("/api/v1/labels/batch", headers=x, json={
        "image_ids": [install.p_images[0], q_image], "taxon": "daphnia"})
    assert batch.status_code == 403
    history = (await gw.get(f"/api/v1/images/{q_image}/labels", headers=install.admin)).json()
    assert [h["taxon"] for h in history["data"]] == ["bosmina"]
    p_history = (await gw.get(f"/api/v1/images/{install.p_images[0]}/labels",
                              headers=install.admin)).json()
    assert [h["taxon"] for h in p_history["data"]] == ["daphnia"]


async def test_another_projects_images_are_not_found(install: Install) -> None:
    """404, not 403: an image of a project the caller may not read is one they cannot know of."""
    q_image = install.q_images[0]
    for suffix in ("", "/file", "/thumbnail", "/labels", "/similar"):
        url = f"/api/v1/images/{q_image}{suffix}"
        answer = await install.gw.get(url, headers=install.xavier)
        assert answer.status_code == 404, url
        assert (await install.gw.get(url, headers=install.ann)).status_code == 200, url
    page = (await install.gw.get("/api/v1/images", headers=install.xavier,
                                 params={"limit": 500})).json()
    assert sorted(i["id"] for i in page["data"]) == sorted(install.p_images)
    assert page["count"] == PER_PROJECT
    projects = (await install.gw.get("/api/v1/projects", headers=install.xavier)).json()["data"]
    assert install.q not in {p["id"] for p in projects}
    assert {p["id"]: p["role"] for p in projects}[install.p] == "annotator"


@pytest.mark.parametrize("route", ["/api/v1/images", "/api/v1/export", "/api/v1/review",
                                   "/api/v1/suggestions/groups", "/api/v1/label-counts"])
async def test_naming_another_project_is_a_403(install: Install, route: str) -> None:
    answer = await install.gw.get(route, headers=install.xavier, params={"project": install.q})
    assert answer.status_code == 403, route
    assert f"project {install.q}" in answer.json()["detail"]


async def test_a_refresh_of_another_project_is_refused(install: Install) -> None:
    answer = await install.gw.post("/api/v1/suggestions/refresh", headers=install.xavier,
                                   params={"project": install.q, "wait_s": 0})
    assert answer.status_code == 403 and f"project {install.q}" in answer.json()["detail"]


async def test_an_export_holds_only_readable_projects(install: Install) -> None:
    csv = (await install.gw.get("/api/v1/export", headers=install.xavier)).text
    ids = {int(line.split(",")[0]) for line in csv.splitlines()[1:]}
    assert ids == set(install.p_images)
    everything = (await install.gw.get("/api/v1/export", headers=install.ann)).text
    assert len(everything.splitlines()) - 1 == 2 * PER_PROJECT


async def test_search_results_hold_no_image_of_another_project(install: Install) -> None:
    gw, x, p_image = install.gw, install.xavier, install.p_images[0]
    own = set(install.p_images)
    similar = (await gw.get(f"/api/v1/images/{p_image}/similar", headers=x,
                            params={"k": 50})).json()["data"]
    assert {n["id"] for n in similar} == own - {p_image}
    everyone = (await gw.get(f"/api/v1/images/{p_image}/similar", headers=install.ann,
                             params={"k": 50})).json()["data"]
    assert set(install.q_images) <= {n["id"] for n in everyone}  # the filter is what hides them
    # The index itself is asked for neighbours in the readable projects only, so hits of other
    # projects never take the places of the k asked for.
    model = (await gw.get("/api/v1/model", headers=x)).json()["name"]
    asked = install.services.sent_to("search", f"/v1/collections/{model}/query")
    assert json.loads(asked[-2].content)["filter"] == {"project": ["1", str(install.p)]}
    assert json.loads(asked[-1].content)["filter"] == {
        "project": ["1", str(install.p), str(install.q)]}  # Ann's: Eawag reads all three

    by_example = (await gw.post("/api/v1/similar", headers=x, json={
        "image_ids": [p_image], "limit": 50})).json()["data"]
    assert {i["id"] for i in by_example} == own - {p_image}
    example_of_q = await gw.post("/api/v1/similar", headers=x, json={
        "image_ids": [install.q_images[0]]})
    assert example_of_q.status_code == 404
    negative_of_q = await gw.post("/api/v1/similar", headers=x, json={
        "image_ids": [p_image], "negative_ids": [install.q_images[0]]})
    assert negative_of_q.status_code == 404
    in_q = await gw.post("/api/v1/similar", headers=x, json={"image_ids": [p_image],
                                                            "project": install.q})
    assert in_q.status_code == 403

    query = [("file", (install.q_file.name, install.q_file.read_bytes(), "image/jpeg"))]
    found = (await gw.post("/api/v1/search", headers=x, files=query,
                           params={"k": 50})).json()["data"]
    assert found and {n["id"] for n in found} <= own


async def test_a_grant_opens_a_project_and_revoking_it_closes_it(install: Install) -> None:
    gw, x, q_image = install.gw, install.xavier, install.q_images[1]
    grants = f"/api/v1/projects/{install.q}/grants"
    refused = await gw.put(grants, headers=x, json={"institution": "X-Lab", "role": "annotator"})
    assert refused.status_code == 403
    granted = await gw.put(grants, headers=install.admin,
                           json={"institution": "X-Lab", "role": "annotator"})
    assert granted.status_code == 200, granted.text
    listed = (await gw.get(grants, headers=install.admin)).json()["data"]
    assert {(g["institution"], g["role"]) for g in listed} == {("Eawag", "annotator"),
                                                               ("X-Lab", "annotator")}
    relabel = await gw.put(f"/api/v1/images/{q_image}/label", headers=x,
                           json={"taxon": "bosmina", "state": "dubious"})
    assert relabel.status_code == 200, relabel.text
    assert (await gw.get(f"/api/v1/images/{q_image}/thumbnail", headers=x)).status_code == 200

    revoked = await gw.delete(f"{grants}/{granted.json()['id']}", headers=install.admin)
    assert revoked.status_code == 204
    assert (await gw.get(f"/api/v1/images/{q_image}", headers=x)).status_code == 404
    again = await gw.put(f"/api/v1/images/{q_image}/label", headers=x, json={"taxon": "bosmina"})
    assert again.status_code == 403


async def test_a_malformed_grant_is_a_422_naming_the_problem(install: Install) -> None:
    answer = await install.gw.put(f"/api/v1/projects/{install.q}/grants", headers=install.admin,
                                  json={"institution": "X-Lab", "annotator_id": 1,
                                        "role": "viewer"})
    assert answer.status_code == 422 and "exactly one grantee" in str(answer.json()["detail"])
