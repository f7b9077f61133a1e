"""Project grants through the catalog's /v1 routes, with the caller the gateway names: who may
read and write which project's images, labels, counts, exports, suggestions and jobs.

Two institutions share one catalog: X-Lab is granted project P only; project Q grants nobody;
the default project keeps the grant migration 007 gives (everyone, at their key's role).
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.support.catalog import Catalog, empty_catalog, upload
from tests.support.data import SampleImage

# Labels here may name a taxon the tree does not hold yet (what is tested is who may write).
NEW_TAXON = {"create_taxon": "true"}


@dataclass
class Lab:
    admin: dict[str, str]
    xavier: dict[str, str]  # X-Lab, annotator key
    vera: dict[str, str]  # X-Lab, viewer key
    eve: dict[str, str]  # Eawag, annotator key
    p: int
    q: int
    p_images: list[int]
    q_images: list[int]
    q_sample: SampleImage


@pytest.fixture(autouse=True)
async def leave_the_catalog_empty(catalog_database_url: str) -> AsyncIterator[None]:
    yield
    await empty_catalog(catalog_database_url)


async def _person(catalog: Catalog, name: str, institution: str, role: str) -> dict[str, str]:
    made = await catalog.client.post("/v1/annotators", json={"name": name,
                                                             "institution": institution})
    assert made.status_code == 201, made.text
    return {"X-Nauplius-Annotator": str(made.json()["id"]), "X-Nauplius-Role": role}


async def _project(catalog: Catalog, name: str, grants: list | None) -> int:
    body = {"name": name} if grants is None else {"name": name, "grants": grants}
    made = await catalog.client.post("/v1/projects", json=body)
    assert made.status_code == 201, made.text
    return made.json()["id"]


async def _stored(catalog: Catalog, picture: SampleImage, project: int) -> int:
    answer = await upload(catalog.client, picture, project_id=str(project), label=picture.label,
                          create_taxon="true")
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


@pytest.fixture
async def lab(catalog: Catalog, zoolake: list[SampleImage]) -> Lab:
    admin = await _person(catalog, "Ada", "Eawag", "admin")
    xavier = await _person(catalog, "Xavier", "X-Lab", "annotator")
    vera = await _person(catalog, "Vera", "X-Lab", "viewer")
    eve = await _person(catalog, "Eve", "Eawag", "annotator")
    p = await _project(catalog, "lake-p", [{"institution": "X-Lab", "role": "annotator"}])
    q = await _project(catalog, "lake-q", [])
    p_images = [await _stored(catalog, picture, p) for picture in zoolake[:2]]
    q_images = [await _stored(catalog, picture, q) for picture in zoolake[2:4]]
    return Lab(admin, xavier, vera, eve, p, q, p_images, q_images, zoolake[2])


async def test_reads_of_another_project_are_not_found_and_lists_leave_it_out(
        catalog: Catalog, lab: Lab):
    get, x = catalog.client.get, lab.xavier
    q_image = lab.q_images[0]
    for url in (f"/v1/images/{q_image}", f"/v1/images/{q_image}/file",
                f"/v1/images/{q_image}/thumbnail", f"/v1/images/{q_image}/labels",
                f"/v1/images/by-sha256/{lab.q_sample.sha256}"):
        answer = await get(url, headers=x)
        assert answer.status_code == 404, url
        assert "not found" in answer.json()["detail"] or "no image" in answer.json()["detail"]
        assert (await get(url, headers=lab.admin)).status_code == 200, url
    assert (await get(f"/v1/images/{lab.p_images[0]}/file", headers=x)).status_code == 200

    page = (await get("/v1/images", headers=x)).json()
    assert sorted(i["id"] for i in page["data"]) == sorted(lab.p_images) and page["count"] == 2
    assert (await get("/v1/images", headers=lab.admin)).json()["count"] == 4
    looked_up = await catalog.client.post("/v1/images/lookup", headers=x,
                                          json={"ids": lab.q_images + lab.p_images})
    assert [i["id"] for i in looked_up.json()["data"]] == lab.p_images
    counts = (await get("/v1/label-counts", headers=x)).json()
    assert counts["validated"] == 2
    rows = (await get("/v1/export-rows", headers=x)).json()["data"]
    assert sorted(r["id"] for r in rows) == sorted(lab.p_images)
    projects = (await get("/v1/projects", headers=x)).json()["data"]
    assert [(p["id"], p["role"]) for p in projects] == [(1, "annotator"), (lab.p, "annotator")]
    assert (await get("/v1/scope", headers=x)).json() == {"readable": [1, lab.p],
                                                          "writable": [1, lab.p]}


@pytest.mark.parametrize("url", ["/v1/images?project_id={q}", "/v1/export-rows?project_id={q}",
                                 "/v1/label-counts?project_id={q}",
                                 "/v1/suggestions/groups?project_id={q}"])
async def test_naming_an_unreadable_project_is_a_403_saying_why(catalog: Catalog, lab: Lab, url):
    answer = await catalog.client.get(url.format(q=lab.q), headers=lab.xavier)
    assert answer.status_code == 403
    assert f"viewer role in project {lab.q}" in answer.json()["detail"]
    assert "yours there is none" in answer.json()["detail"]


async def test_writes_need_the_annotator_role_in_the_images_project(catalog: Catalog, lab: Lab):
    post, put = catalog.client.post, catalog.client.put
    q_image, p_image = lab.q_images[0], lab.p_images[0]
    relabel = await put(f"/v1/images/{q_image}/label", headers=lab.xavier,
                        json={"taxon": "daphnia", "state": "validated"})
    assert relabel.status_code == 403
    assert f"annotator role in project {lab.q}" in relabel.json()["detail"]
    both = await post("/v1/labels/batch", headers=lab.xavier, json={
        "image_ids": [p_image, q_image], "taxon": None, "state": "unlabelled"})
    assert both.status_code == 403 and str(q_image) in both.json()["detail"]
    for image in (p_image, q_image):  # all or nothing: neither changed
        history = (await catalog.client.get(f"/v1/images/{image}/labels")).json()["data"]
        assert len(history) == 1
    # A grant never lifts a key above its role: Vera's X-Lab grant is annotator, her key viewer.
    viewer = await put(f"/v1/images/{p_image}/label", headers=lab.vera,
                       json={"taxon": "daphnia", "state": "validated"})
    assert viewer.status_code == 403 and "yours there is viewer" in viewer.json()["detail"]
    mine = await put(f"/v1/images/{p_image}/label", headers=lab.xavier,
                     json={"taxon": "daphnia", "state": "dubious"}, params=NEW_TAXON)
    assert mine.status_code == 200 and mine.json()["label_state"] == "dubious"
    label_id = (await catalog.client.get(f"/v1/images/{q_image}/labels")).json()["data"][0]["id"]
    revert = await post(f"/v1/labels/{label_id}/revert", headers=lab.xavier)
    assert revert.status_code == 403

    files = {"file": (lab.q_sample.path.name, lab.q_sample.data, "image/jpeg")}
    into_q = await post("/v1/images", headers=lab.xavier, files=files,
                        data={"project_id": str(lab.q)})
    assert into_q.status_code == 403
    # The bytes are Q's already: an upload into P does not hand Q's image out as a duplicate.
    into_p = await post("/v1/images", headers=lab.xavier, files=files,
                        data={"project_id": str(lab.p)})
    assert into_p.status_code == 409 and "cannot read" in into_p.json()["detail"]
    accept = await post("/v1/suggestions/accept", headers=lab.xavier, json={
        "taxon": "daphnia", "min_confidence": 0, "project_id": lab.q})
    assert accept.status_code == 403
    refresh = await post("/v1/jobs", headers=lab.xavier, json={
        "kind": "suggestions", "params": {"mode": "full", "project": lab.q}})
    assert refresh.status_code == 403
    everything = await post("/v1/jobs", headers=lab.xavier, json={
        "kind": "suggestions", "params": {"mode": "full", "project": None}})
    assert everything.status_code == 403 and "every project" in everything.json()["detail"]


async def test_a_grant_opens_a_project_and_revoking_it_closes_it_again(catalog: Catalog, lab: Lab):
    client, q_image = catalog.client, lab.q_images[0]
    grants = f"/v1/projects/{lab.q}/grants"
    refused = await client.put(grants, headers=lab.xavier,
                               json={"institution": "X-Lab", "role": "annotator"})
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]

    viewer = await client.put(grants, headers=lab.admin, json={"institution": "X-Lab",
                                                               "role": "viewer"})
    assert viewer.status_code == 200, viewer.text
    assert (await client.get(f"/v1/images/{q_image}", headers=lab.xavier)).status_code == 200
    label = {"taxon": "daphnia", "state": "validated"}
    refused = await client.put(f"/v1/images/{q_image}/label", headers=lab.xavier, json=label)
    assert refused.status_code == 403 and "yours there is viewer" in refused.json()["detail"]

    annotator = await client.put(grants, headers=lab.admin, json={"institution": "X-Lab",
                                                                  "role": "annotator"})
    assert annotator.json()["id"] == viewer.json()["id"]  # one grant per grantee, replaced
    relabel = await client.put(f"/v1/images/{q_image}/label", headers=lab.xavier, json=label,
                               params=NEW_TAXON)
    assert relabel.status_code == 200 and relabel.json()["label"] == "daphnia"
    listed = (await client.get(grants, headers=lab.admin)).json()["data"]
    assert [(g["institution"], g["role"]) for g in listed] == [("X-Lab", "annotator")]
    assert (await client.get(grants, headers=lab.xavier)).status_code == 403

    gone = await client.delete(f"{grants}/{annotator.json()['id']}", headers=lab.admin)
    assert gone.status_code == 204
    assert (await client.get(f"/v1/images/{q_image}", headers=lab.xavier)).status_code == 404
    again = await client.delete(f"{grants}/{annotator.json()['id']}", headers=lab.admin)
    assert again.status_code == 404


async def test_a_person_grant_reaches_only_that_person(catalog: Catalog, lab: Lab):
    xavier_id = int(lab.xavier["X-Nauplius-Annotator"])
    made = await catalog.client.put(f"/v1/projects/{lab.q}/grants", headers=lab.admin,
                                    json={"annotator_id": xavier_id, "role": "viewer"})
    assert made.status_code == 200 and made.json()["annotator"] == "Xavier"
    image = f"/v1/images/{lab.q_images[0]}"
    assert (await catalog.client.get(image, headers=lab.xavier)).status_code == 200
    assert (await catalog.client.get(image, headers=lab.vera)).status_code == 404


@pytest.mark.parametrize(("grant", "problem"), [
    ({"role": "viewer"}, "exactly one grantee"),
    ({"everyone": True, "institution": "X-Lab", "role": "viewer"}, "exactly one grantee"),
    ({"institution": "X-Lab", "role": "owner"}, "role"),
    ({"institution": "X\u0000Lab", "role": "viewer"}, "institution"),
])
async def test_a_malformed_grant_is_a_422_naming_the_problem(catalog: Catalog, lab: Lab, grant,
                                                             problem):
    answer = await catalog.client.put(f"/v1/projects/{lab.q}/grants", json=grant)
    assert answer.status_code == 422 and problem in str(answer.json()["detail"])
    assert (await catalog.client.get(f"/v1/projects/{lab.q}/grants")).json()["data"] == []


async def test_grants_of_unknown_projects_and_annotators_are_404s(catalog: Catalog, lab: Lab):
    unknown = await catalog.client.put("/v1/projects/999/grants",
                                       json={"everyone": True, "role": "viewer"})
    assert unknown.status_code == 404 and "project 999" in unknown.json()["detail"]
    nobody = await catalog.client.put(f"/v1/projects/{lab.q}/grants",
                                      json={"annotator_id": 999, "role": "viewer"})
    assert nobody.status_code == 404 and "annotator 999" in nobody.json()["detail"]


async def test_a_new_project_grants_everyone_unless_it_says_otherwise(catalog: Catalog, lab: Lab):
    open_project = await _project(catalog, "lake-open", None)
    grants = (await catalog.client.get(f"/v1/projects/{open_project}/grants")).json()["data"]
    assert [(g["everyone"], g["role"]) for g in grants] == [(True, "admin")]
    scope = (await catalog.client.get("/v1/scope", headers=lab.eve)).json()
    assert scope == {"readable": [1, open_project], "writable": [1, open_project]}
    viewer_scope = (await catalog.client.get("/v1/scope", headers=lab.vera)).json()
    assert viewer_scope["writable"] == []  # capped at the key's role
    assert (await catalog.client.get("/v1/scope", headers=lab.admin)).json() == {
        "readable": None, "writable": None}


async def test_jobs_are_seen_by_their_creator_and_the_readers_of_their_project(
        catalog: Catalog, lab: Lab):
    """With the default project closed to X-Lab, Xavier neither sends jobs (their items go into
    the default project) nor sees Eve's."""
    client = catalog.client
    eves = (await client.post("/v1/jobs", json={"source": "eve"}, headers=lab.eve)).json()
    default_grants = (await client.get("/v1/projects/1/grants")).json()["data"]
    await client.put("/v1/projects/1/grants", json={"institution": "Eawag", "role": "annotator"})
    await client.delete(f"/v1/projects/1/grants/{default_grants[0]['id']}")

    refused = await client.post("/v1/jobs", json={"source": "xavier"}, headers=lab.xavier)
    assert refused.status_code == 403 and "project 1" in refused.json()["detail"]
    assert (await client.get(f"/v1/jobs/{eves['id']}", headers=lab.xavier)).status_code == 404
    assert (await client.get("/v1/jobs", headers=lab.xavier)).json()["data"] == []
    assert (await client.get(f"/v1/jobs/{eves['id']}", headers=lab.eve)).status_code == 200
    refresh = await client.post("/v1/jobs", headers=lab.xavier, json={
        "kind": "suggestions", "params": {"mode": "full", "project": lab.p}})
    assert refresh.status_code == 201, refresh.text  # a refresh of P is theirs to run and see
    listed = (await client.get("/v1/jobs", headers=lab.xavier)).json()["data"]
    assert [j["id"] for j in listed] == [refresh.json()["id"]]
