"""The labelling API through the gateway with API keys on, over the real catalog (PostgreSQL),
search (Qdrant Edge) and embedder (ONNX) apps in-process, on a small real ZooLake set.

One stack serves the whole module (embedding the set is the slow part); tests that write run in
file order and each says what it expects to find.
"""

import csv
import io
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from gateway.config import GatewaySettings
from tests.support.data import ZOOLAKE
from tests.support.gateway import running_gateway
from tests.support.services import ServiceRouter, in_process_services
from tests.support.worker import running_worker, worker_over

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLASSES = ["daphnia", "bosmina", "asplanchna", "keratella_quadrata", "dinobryon"]
SEEDS, UNJUDGED = 6, 6  # per class: uploaded validated / uploaded without a label
TAXA_CSV = """name,rank,parent,aphia_id
Plankton,,,
Cladocera,order,Plankton,1071
daphnia,genus,Cladocera,148372
bosmina,genus,Cladocera,148369
Rotifera,phylum,Plankton,14262
asplanchna,genus,Rotifera,135106
keratella_quadrata,species,Rotifera,
dinobryon,genus,Plankton,
"""


class World:
    """The running stack, its keys, and the truth about every uploaded image."""

    gw: httpx.AsyncClient
    admin: dict[str, str]
    annotator: dict[str, str]
    viewer: dict[str, str]
    annotator_id: int
    truth: dict[int, str]
    seeds: list[int]
    unjudged: list[int]
    services: ServiceRouter


def _key(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _person(gw: httpx.AsyncClient, admin: dict, name: str, role: str) -> tuple[int, str]:
    person = await gw.post("/api/v1/annotators", json={"name": name, "institution": "Eawag"},
                           headers=admin)
    assert person.status_code == 201, person.text
    key = await gw.post("/api/v1/api-keys", json={"annotator_id": person.json()["id"], "role": role},
                        headers=admin)
    assert key.status_code == 201, key.text
    return person.json()["id"], key.json()["key"]


async def _upload(gw: httpx.AsyncClient, headers: dict, paths: list[Path], label: str | None) -> list[int]:
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
    data = {"label": label, "instrument": "SPC"} if label else {"instrument": "SPC"}
    answer = await gw.post("/api/v1/images", files=files, data=data, headers=headers)
    assert answer.status_code == 200, answer.text
    entries = answer.json()["data"]
    assert all(e["error"] is None for e in entries), entries
    return [e["id"] for e in entries]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("labelling")
    key_file = tmp / "admin-api-key"
    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(in_process_services(tmp, "nauplius_labelling"))
        settings = GatewaySettings(embedder_url="http://embedder", search_url="http://search",
                                   catalog_url="http://catalog", auth="on")
        w = World()
        w.services = services
        w.gw = await stack.enter_async_context(running_gateway(settings, w.services))
        # The worker runs the suggestions jobs and drains the index outbox.
        http = await stack.enter_async_context(httpx.AsyncClient(transport=w.services))
        await stack.enter_async_context(running_worker(http))
        w.admin = _key(key_file.read_text().strip())
        imported = await w.gw.post("/api/v1/taxa/import", content=TAXA_CSV, headers=w.admin)
        assert imported.status_code == 200, imported.text
        w.annotator_id, annotator_key = await _person(w.gw, w.admin, "Alice", "annotator")
        _, viewer_key = await _person(w.gw, w.admin, "Victor", "viewer")
        w.annotator, w.viewer = _key(annotator_key), _key(viewer_key)
        w.truth, w.seeds, w.unjudged = {}, [], []
        for label in CLASSES:
            paths = sorted((ZOOLAKE / label).iterdir())[: SEEDS + UNJUDGED]
            seeds = await _upload(w.gw, w.annotator, paths[:SEEDS], label)
            unjudged = await _upload(w.gw, w.annotator, paths[SEEDS:], None)
            w.seeds += seeds
            w.unjudged += unjudged
            w.truth.update(dict.fromkeys(seeds + unjudged, label))
        yield w


# --- keys and roles --------------------------------------------------------------------------
# Every write route of the public API and the least role it needs. The test below fails when a
# write route is added without an entry here, so none can ship without a role check.
WRITE_ROUTES = {
    ("POST", "/api/v1/images"): "annotator",
    ("PUT", "/api/v1/images/{image_id}/label"): "annotator",
    ("POST", "/api/v1/jobs"): "annotator",
    ("POST", "/api/v1/jobs/{job_id}/items"): "annotator",
    ("POST", "/api/v1/jobs/{job_id}/close"): "annotator",
    ("POST", "/api/v1/reconcile"): "admin",
    ("POST", "/api/v1/taxa"): "admin",
    ("POST", "/api/v1/taxa/import"): "admin",
    ("PUT", "/api/v1/taxa/{taxon_id}"): "admin",
    ("DELETE", "/api/v1/taxa/{taxon_id}"): "admin",
    ("POST", "/api/v1/projects"): "admin",
    ("POST", "/api/v1/projects/{project_id}/images"): "admin",
    ("PUT", "/api/v1/projects/{project_id}/grants"): "admin",
    ("DELETE", "/api/v1/projects/{project_id}/grants/{grant_id}"): "admin",
    ("POST", "/api/v1/annotators"): "admin",
    ("POST", "/api/v1/api-keys"): "admin",
    ("POST", "/api/v1/api-keys/{key_id}/revoke"): "admin",
    ("POST", "/api/v1/labels/batch"): "annotator",
    ("POST", "/api/v1/labels/{label_id}/revert"): "annotator",
    ("POST", "/api/v1/suggestions/refresh"): "annotator",
    ("POST", "/api/v1/suggestions/accept"): "annotator",
    ("POST", "/api/v1/projects/{project_id}/adaptation/refit"): "annotator",
    ("POST", "/api/v1/projects/{project_id}/train"): "admin",
    ("POST", "/api/v1/duplicates/{image_id}/merge"): "annotator",
    ("POST", "/api/v1/duplicates/{image_id}/dismiss"): "annotator",
    ("POST", "/api/v1/clusters/refresh"): "annotator",
    ("POST", "/api/v1/clusters/{cluster_id}/name"): "annotator",
    ("POST", "/api/v1/models/{name}/reembed"): "admin",
    ("POST", "/api/v1/models/{name}/activate"): "admin",
    ("DELETE", "/api/v1/models/{name}"): "admin",
}
# POST routes that only read (a query with a body).
READ_POSTS = {("POST", "/api/v1/search"), ("POST", "/api/v1/similar")}


def _api_routes() -> set[tuple[str, str]]:
    from gateway.main import create_app

    paths = create_app().openapi()["paths"]
    return {(method.upper(), path) for path, methods in paths.items() if path.startswith("/api/v1")
            for method in methods}


async def test_every_write_route_has_a_role() -> None:
    writes = {r for r in _api_routes() if r[0] != "GET"} - READ_POSTS
    assert writes == set(WRITE_ROUTES)


def _concrete(path: str) -> str:
    return path.replace("{image_id}", "1").replace("{job_id}", "1").replace(
        "{taxon_id}", "1").replace("{project_id}", "1").replace("{key_id}", "1").replace(
        "{label_id}", "1").replace("{grant_id}", "1").replace("{cluster_id}", "1").replace(
        "{name}", "plankton-lite0")


@pytest.mark.parametrize(("method", "path"), sorted(WRITE_ROUTES))
async def test_write_routes_refuse_lesser_roles(world: World, method: str, path: str) -> None:
    url = _concrete(path)
    missing = await world.gw.request(method, url)
    assert missing.status_code == 401 and "API key" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = await world.gw.request(method, url, headers={"X-API-Key": "npl_not-a-key"})
    assert wrong.status_code == 401
    viewer = await world.gw.request(method, url, headers=world.viewer)
    assert viewer.status_code == 403 and WRITE_ROUTES[(method, path)] in viewer.json()["detail"]
    if WRITE_ROUTES[(method, path)] == "admin":
        annotator = await world.gw.request(method, url, headers=world.annotator)
        assert annotator.status_code == 403 and "admin" in annotator.json()["detail"]


async def test_reads_need_a_key_and_a_viewer_may_read(world: World) -> None:
    for url in ("/api/v1/images", "/api/v1/taxa", "/api/v1/review", "/api/v1/label-counts",
                "/api/v1/export", f"/api/v1/images/{world.seeds[0]}/labels", "/api/v1/jobs"):
        assert (await world.gw.get(url)).status_code == 401, url
        assert (await world.gw.get(url, headers=world.viewer)).status_code == 200, url
    key = world.annotator["Authorization"][7:]
    me = (await world.gw.get("/api/v1/me", headers={"X-API-Key": key})).json()
    assert me == {"annotator_id": world.annotator_id, "name": "Alice", "institution": "Eawag",
                  "role": "annotator"}
    assert (await world.gw.get("/api/v1/api-keys", headers=world.annotator)).status_code == 403


async def test_a_viewer_cannot_label_and_nothing_changes(world: World) -> None:
    image = world.unjudged[0]
    refused = await world.gw.post("/api/v1/labels/batch", headers=world.viewer,
                                  json={"image_ids": [image], "taxon": "daphnia"})
    assert refused.status_code == 403
    history = (await world.gw.get(f"/api/v1/images/{image}/labels", headers=world.viewer)).json()
    assert history["data"] == []


async def test_an_annotator_cannot_edit_the_taxonomy(world: World) -> None:
    refused = await world.gw.post("/api/v1/taxa", headers=world.annotator,
                                  json={"name": "Copepoda", "parent": "Plankton"})
    assert refused.status_code == 403
    taxa = (await world.gw.get("/api/v1/taxa", headers=world.annotator)).json()["data"]
    assert "Copepoda" not in {t["name"] for t in taxa}
    # ...nor add a taxon by naming it in a label (an admin's label may).
    unknown = await world.gw.post("/api/v1/labels/batch", headers=world.annotator,
                                  json={"image_ids": [world.unjudged[0]], "taxon": "Copepoda"})
    assert unknown.status_code in (404, 422) and "Copepoda" in unknown.json()["detail"]


async def test_a_revoked_key_is_refused_at_once(world: World) -> None:
    person_id, key = await _person(world.gw, world.admin, "Temp", "annotator")
    assert (await world.gw.get("/api/v1/me", headers=_key(key))).status_code == 200  # now cached
    keys = (await world.gw.get("/api/v1/api-keys", headers=world.admin)).json()["data"]
    key_id = next(k["id"] for k in keys if k["annotator_id"] == person_id)
    revoked = await world.gw.post(f"/api/v1/api-keys/{key_id}/revoke", headers=world.admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    after = await world.gw.get("/api/v1/me", headers=_key(key))
    assert after.status_code == 401 and "revoked" in after.json()["detail"]
    assert key not in str(keys)  # only a prefix and the hash are kept


# --- labels: batch, history, revert ------------------------------------------------------------
async def test_batch_assign_is_all_or_nothing(world: World) -> None:
    ids = world.unjudged[:2]
    missing = await world.gw.post("/api/v1/labels/batch", headers=world.annotator,
                                  json={"image_ids": ids + [999_999], "taxon": "daphnia"})
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
    for image in ids:
        shown = (await world.gw.get(f"/api/v1/images/{image}", headers=world.viewer)).json()
        assert shown["label_state"] == "unlabelled"
    twice = await world.gw.post("/api/v1/labels/batch", headers=world.annotator,
                                json={"image_ids": [ids[0], ids[0]], "taxon": "daphnia"})
    assert twice.status_code == 422


async def test_history_and_revert_through_the_gateway(world: World) -> None:
    image = world.unjudged[-1]  # a dinobryon, judged here and reverted back to unlabelled
    a = world.annotator
    first = await world.gw.post("/api/v1/labels/batch", headers=a,
                                json={"image_ids": [image], "taxon": "bosmina"})
    assert first.status_code == 200 and first.json()["image_ids"] == [image]
    second = await world.gw.post("/api/v1/labels/batch", headers=a,
                                 json={"image_ids": [image], "taxon": "dinobryon", "state": "dubious"})
    assert second.status_code == 200
    history = (await world.gw.get(f"/api/v1/images/{image}/labels", headers=world.viewer)).json()["data"]
    oldest, newest = history  # oldest first
    assert (newest["previous_taxon"], newest["previous_state"]) == ("bosmina", "validated")
    assert (newest["taxon"], newest["state"], newest["annotator"]) == ("dinobryon", "dubious", "Alice")
    assert (oldest["previous_taxon"], oldest["previous_state"]) == (None, "unlabelled")

    undo = await world.gw.post(f"/api/v1/labels/{newest['id']}/revert", headers=a)
    assert undo.status_code == 200
    assert (undo.json()["taxon"], undo.json()["state"]) == ("bosmina", "validated")
    assert undo.json()["reverts_label_id"] == newest["id"]
    image_now = (await world.gw.get(f"/api/v1/images/{image}", headers=a)).json()
    assert (image_now["label"], image_now["label_state"]) == ("bosmina", "validated")
    # The search index follows: the image is found among validated bosmina neighbours.
    similar = await world.gw.post("/api/v1/similar", headers=a, json={
        "image_ids": [world.seeds[0]], "state": "validated", "limit": 200})
    assert any(i["id"] == image and i["label"] == "bosmina" for i in similar.json()["data"])

    back = await world.gw.post(f"/api/v1/labels/{oldest['id']}/revert", headers=a)
    assert (back.json()["taxon"], back.json()["state"]) == (None, "unlabelled")
    assert (await world.gw.post("/api/v1/labels/99999999/revert", headers=a)).status_code == 404
    full = (await world.gw.get(f"/api/v1/images/{image}/labels", headers=a)).json()["data"]
    assert len(full) == 4 and all(h["annotator"] == "Alice" for h in full)


# --- suggestions on real neighbours --------------------------------------------------------------
async def test_suggestions_are_calibrated_on_real_neighbours(world: World) -> None:
    refreshed = await world.gw.post("/api/v1/suggestions/refresh", headers=world.annotator)
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body["calibrated_on"] == len(world.seeds)  # every validated seed voted on
    assert body["images"] == len(world.unjudged)
    held_out = sum(row["n"] for row in body["reliability"])
    assert held_out == sum(1 for i in world.seeds if i % 2 == 1)
    for row in body["reliability"]:
        assert row["low"] <= row["mean_confidence"] <= row["high"]

    predicted = (await world.gw.get("/api/v1/images", headers=world.viewer,
                                    params={"state": "predicted", "limit": 500})).json()["data"]
    assert {i["id"] for i in predicted} == set(world.unjudged)
    parents = {t["name"]: t["parent"] for t in
               (await world.gw.get("/api/v1/taxa", headers=world.viewer)).json()["data"]}

    def right(suggested: str, truth: str) -> bool:
        while truth is not None:
            if truth == suggested:
                return True
            truth = parents[truth]
        return False

    hits = [right(i["label"], world.truth[i["id"]]) for i in predicted]
    confidences = [i["label_confidence"] for i in predicted]
    assert all(0 <= c <= 1 for c in confidences)
    accuracy, mean_confidence = sum(hits) / len(hits), sum(confidences) / len(confidences)
    # 30 real images, 5 classes, 6 seeds each: the vote is mostly right and the calibrated
    # confidence says so within sampling noise.
    assert accuracy >= 0.7
    assert abs(accuracy - mean_confidence) <= 0.2

    history = (await world.gw.get(f"/api/v1/images/{predicted[0]['id']}/labels",
                                  headers=world.viewer)).json()["data"]
    assert history[-1]["annotator"] == "suggestions" and history[-1]["state"] == "predicted"


async def test_review_queue_orders_and_filters(world: World) -> None:
    confident = (await world.gw.get("/api/v1/review", headers=world.viewer,
                                    params={"limit": 200})).json()
    assert confident["count"] == len(world.unjudged)
    # Grouped by suggested taxon (each group in one run), most confident first in each group.
    runs = [i["label"] for n, i in enumerate(confident["data"])
            if n == 0 or confident["data"][n - 1]["label"] != i["label"]]
    assert len(runs) == len(set(runs)) > 1
    for taxon in runs:
        group = [i["label_confidence"] for i in confident["data"] if i["label"] == taxon]
        assert group == sorted(group, reverse=True)
    uncertain = (await world.gw.get("/api/v1/review", headers=world.viewer,
                                    params={"order": "uncertain", "limit": 200})).json()["data"]
    values = [i["label_confidence"] for i in uncertain]
    assert values == sorted(values) and len(values) == len(world.unjudged)
    taxon = confident["data"][0]["label"]
    only = (await world.gw.get("/api/v1/review", headers=world.viewer,
                               params={"taxon": taxon, "limit": 200})).json()["data"]
    assert only and {i["label"] for i in only} == {taxon}
    page = (await world.gw.get("/api/v1/review", headers=world.viewer,
                               params={"limit": 3, "offset": 3})).json()["data"]
    assert [i["id"] for i in page] == [i["id"] for i in confident["data"][3:6]]


async def test_query_by_example_filters_and_pages(world: World) -> None:
    example = world.seeds[0]  # a daphnia
    first = (await world.gw.post("/api/v1/similar", headers=world.viewer, json={
        "image_ids": [example], "limit": 5})).json()
    second = (await world.gw.post("/api/v1/similar", headers=world.viewer, json={
        "image_ids": [example], "limit": 5, "offset": 5})).json()
    scores = [i["score"] for i in first["data"] + second["data"]]
    assert len(scores) == 10 and scores == sorted(scores, reverse=True) and first["more"]
    ids = [i["id"] for i in first["data"] + second["data"]]
    assert len(set(ids)) == 10 and example not in ids
    assert first["data"][0]["thumbnail_url"] == f"/api/v1/images/{ids[0]}/thumbnail"

    validated = (await world.gw.post("/api/v1/similar", headers=world.viewer, json={
        "image_ids": [example], "state": "validated", "limit": 200})).json()
    assert {i["label_state"] for i in validated["data"]} == {"validated"} and not validated["more"]
    taxon = (await world.gw.post("/api/v1/similar", headers=world.viewer, json={
        "image_ids": [example, world.seeds[SEEDS]], "suggested_taxon": "daphnia", "limit": 200})).json()
    assert taxon["data"] and all(i["label"] == "daphnia" and i["label_state"] == "predicted"
                                 for i in taxon["data"])
    clash = await world.gw.post("/api/v1/similar", headers=world.viewer, json={
        "image_ids": [example], "suggested_taxon": "daphnia", "state": "validated"})
    assert clash.status_code == 422
    assert (await world.gw.post("/api/v1/similar", headers=world.viewer, json={
        "image_ids": [example], "instrument": "IFCB"})).json()["data"] == []

    project = await world.gw.post("/api/v1/projects", headers=world.admin, json={"name": "lake-2020"})
    assert project.status_code == 201
    moved_ids = world.unjudged[:4]
    moved = await world.gw.post(f"/api/v1/projects/{project.json()['id']}/images",
                                headers=world.admin, json={"image_ids": moved_ids})
    assert moved.json()["moved"] == 4
    in_project = (await world.gw.post("/api/v1/similar", headers=world.viewer, json={
        "image_ids": [example], "project": project.json()["id"], "limit": 200})).json()
    assert sorted(i["id"] for i in in_project["data"]) == sorted(moved_ids)


async def test_validate_a_suggestion_group_by_confidence(world: World) -> None:
    groups = (await world.gw.get("/api/v1/suggestions/groups", headers=world.viewer,
                                 params={"min_confidence": 0.5})).json()["data"]
    group = next(g for g in groups if g["confident"] > 0)
    threshold = 0.5
    before = (await world.gw.get("/api/v1/images", headers=world.viewer, params={
        "state": "predicted", "taxon": group["taxon"], "limit": 500})).json()["data"]
    expected = sorted(i["id"] for i in before if i["label_confidence"] >= threshold)
    assert len(expected) == group["confident"]
    counts_before = (await world.gw.get("/api/v1/label-counts", headers=world.viewer)).json()
    refresh = "/api/v1/suggestions/refresh"
    calibrated_before = (await world.gw.post(refresh, headers=world.annotator)).json()["calibrated_on"]

    refused = await world.gw.post("/api/v1/suggestions/accept", headers=world.viewer,
                                  json={"taxon": group["taxon"], "min_confidence": threshold})
    assert refused.status_code == 403
    accepted = await world.gw.post("/api/v1/suggestions/accept", headers=world.annotator,
                                   json={"taxon": group["taxon"], "min_confidence": threshold})
    assert accepted.status_code == 200, accepted.text
    assert sorted(accepted.json()["image_ids"]) == expected
    counts = (await world.gw.get("/api/v1/label-counts", headers=world.viewer)).json()
    assert counts["validated"] == counts_before["validated"] + len(expected)
    assert counts["predicted"] == counts_before["predicted"] - len(expected)
    history = (await world.gw.get(f"/api/v1/images/{expected[0]}/labels",
                                  headers=world.viewer)).json()["data"]
    assert (history[-1]["state"], history[-1]["annotator"]) == ("validated", "Alice")
    assert (history[-1]["previous_state"], history[-1]["previous_taxon"]) == ("predicted", group["taxon"])
    # The accepted label keeps the confidence it was accepted at, and calibration does not learn
    # from labels nobody looked at.
    assert history[-1]["confidence"] >= threshold
    calibrated_after = (await world.gw.post(refresh, headers=world.annotator)).json()["calibrated_on"]
    assert calibrated_after == calibrated_before


# --- export ------------------------------------------------------------------------------------
async def _export(world: World, **params) -> httpx.Response:
    answer = await world.gw.get("/api/v1/export", headers=world.viewer, params=params)
    assert answer.status_code == 200, answer.text
    return answer


async def test_exports_parse_back(world: World) -> None:
    counts = (await world.gw.get("/api/v1/label-counts", headers=world.viewer)).json()
    rows = list(csv.DictReader(io.StringIO((await _export(world)).text)))
    assert len(rows) == counts["validated"] and {r["state"] for r in rows} == {"validated"}
    daphnia = next(r for r in rows if r["taxon"] == "daphnia")
    assert (daphnia["aphia_id"], daphnia["rank"], daphnia["annotator"]) == ("148372", "genus", "Alice")
    assert daphnia["institution"] == "Eawag"
    both = list(csv.DictReader(io.StringIO(
        (await _export(world, states=["validated", "predicted"])).text)))
    assert len(both) == counts["validated"] + counts["predicted"]

    tsv = list(csv.reader(io.StringIO((await _export(world, format="ecotaxa")).text), delimiter="\t"))
    header, types, body = tsv[0], tsv[1], tsv[2:]
    assert {"object_id", "object_annotation_category", "object_annotation_status",
            "object_annotation_person_name", "object_annotation_date"} <= set(header)
    assert len(types) == len(header) and set(types) <= {"[t]", "[f]"}
    assert len(body) == counts["validated"]
    record = dict(zip(header, body[0], strict=True))
    assert record["object_annotation_status"] == "validated"
    assert record["object_annotation_person_name"] == "Alice"
    assert len(record["object_annotation_date"]) == 8 and record["object_annotation_date"].isdigit()
    assert record["object_annotation_category"] in CLASSES
    float(record["object_width"])

    archive = zipfile.ZipFile(io.BytesIO((await _export(world, format="dwca")).content))
    meta = ET.fromstring(archive.read("meta.xml"))
    ns = {"dwc": "http://rs.tdwg.org/dwc/text/"}
    core = meta.find("dwc:core", ns)
    assert core is not None
    location = core.find("dwc:files/dwc:location", ns)
    assert location is not None and location.text == "occurrence.txt"
    assert core.get("rowType") == "http://rs.tdwg.org/dwc/terms/Occurrence"
    lines = archive.read("occurrence.txt").decode().splitlines()
    columns = lines[0].split("\t")
    indexed = {int(f.get("index", "")): f.get("term", "") for f in core.findall("dwc:field", ns)}
    assert sorted(indexed) == list(range(len(columns)))
    for index, term in indexed.items():
        assert term.rsplit("/", 1)[1] == columns[index]
    occurrences = [dict(zip(columns, line.split("\t"), strict=True)) for line in lines[1:]]
    assert len(occurrences) == counts["validated"]
    assert {o["basisOfRecord"] for o in occurrences} == {"MachineObservation"}
    assert {o["identificationVerificationStatus"] for o in occurrences} == {"verified by expert"}
    by_name = {o["scientificName"]: o for o in occurrences}
    assert by_name["daphnia"]["scientificNameID"] == "urn:lsid:marinespecies.org:taxname:148372"
    if "keratella_quadrata" in by_name:  # no AphiaID in the tree: no identifier invented
        assert by_name["keratella_quadrata"]["scientificNameID"] == ""
    assert len({o["occurrenceID"] for o in occurrences}) == len(occurrences)


async def test_an_admin_job_adds_the_taxa_its_labels_name(world: World) -> None:
    path = sorted((ZOOLAKE / "cyclops").iterdir())[0]
    files = [("files", (path.name, path.read_bytes(), "image/jpeg"))]
    refused = await world.gw.post("/api/v1/jobs", files=files, data={"label": "cyclops"},
                                  headers=world.viewer)
    assert refused.status_code == 403
    job = await world.gw.post("/api/v1/jobs", files=files, data={"label": "cyclops"},
                              headers=world.admin)
    assert job.status_code == 201, job.text
    taxa = (await world.gw.get("/api/v1/taxa", headers=world.viewer)).json()["data"]
    [cyclops] = [t for t in taxa if t["name"] == "cyclops"]
    assert (cyclops["name"], cyclops["parent"]) == ("cyclops", None)
    listed = (await world.gw.get("/api/v1/jobs", headers=world.viewer)).json()
    assert job.json()["id"] in {j["id"] for j in listed["data"]}


async def test_a_job_records_who_sent_it_on_what_it_stores(world: World) -> None:
    path = sorted((ZOOLAKE / "daphnia").iterdir())[-1]
    files = [("files", (path.name, path.read_bytes(), "image/jpeg"))]
    job = await world.gw.post("/api/v1/jobs", files=files, data={"label": "daphnia"},
                              headers=world.annotator)
    assert job.status_code == 201, job.text
    assert job.json()["created_by"] == world.annotator_id
    async with httpx.AsyncClient(transport=world.services) as http:
        worker = worker_over(http)
        for _ in range(100):
            status = await world.gw.get(f"/api/v1/jobs/{job.json()['id']}", headers=world.viewer)
            if status.json()["finished"]:
                break
            await worker.run_once()
    daphnia = (await world.gw.get("/api/v1/images", headers=world.viewer,
                                  params={"taxon": "daphnia", "limit": 500})).json()["data"]
    (image,) = [i for i in daphnia if i["filename"] == path.name]
    history = (await world.gw.get(f"/api/v1/images/{image['id']}/labels",
                                  headers=world.viewer)).json()["data"]
    assert [(h["taxon"], h["annotator"]) for h in history] == [("daphnia", "Alice")]


async def test_a_key_with_the_catalog_away_is_a_502_naming_it(closed_url: str) -> None:
    settings = GatewaySettings(embedder_url=closed_url, search_url=closed_url,
                               catalog_url=closed_url, auth="on")
    async with running_gateway(settings) as gw:
        answer = await gw.get("/api/v1/images", headers=_key("npl_anything"))
    assert answer.status_code == 502 and answer.json() == {"detail": "catalog service unreachable"}
