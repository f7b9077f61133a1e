"""Per-project adaptation through the gateway, over the real catalog, search and embedder apps
in-process and the real worker: refit jobs, versions, the active flag, the refit rule, the routes'
errors, and suggestions and similar search in the adapted space.

The project's images are catalog rows (bulk rows) whose points carry constructed vectors: two
classes told apart by a small signal along one axis, while a large nuisance along another (as a
second instrument would add) puts most of class A on one side and most of class B on the other.
Plain cosine then sees the nuisance: an A image on B's side has B images as its validated
neighbours. A discriminant head fitted on the validated labels sees the signal.
"""

import asyncio
import base64
import hashlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import numpy as np
import pytest
import pytest_asyncio

from gateway.config import GatewaySettings
from nauplius.core.adaptation import AdaptationHead
from nauplius.core.clustering import propose
from tests.support.data import ZOOLAKE
from tests.support.gateway import running_gateway
from tests.support.nuisance_vectors import PER_CLASS, nuisance_vectors
from tests.support.service_key import SERVICE_HEADERS
from tests.support.services import in_process_services
from tests.support.worker import running_worker

pytestmark = pytest.mark.asyncio(loop_scope="module")

QUERIES = 3  # unlabelled images per class, each on the other class's side


class World:
    gw: httpx.AsyncClient
    catalog: httpx.AsyncClient
    search: httpx.AsyncClient
    admin: dict[str, str]
    viewer: dict[str, str]
    model: str
    project: int
    truth: dict[int, str]  # the unlabelled images' true classes
    validated: list[int]


async def _ok(answer: Awaitable[httpx.Response]) -> dict:
    response = await answer
    assert response.status_code < 300, response.text
    body: dict = response.json()
    return body


async def _job(w: World, job_id: int) -> dict:
    for _ in range(600):
        job = await _ok(w.gw.get(f"/api/v1/jobs/{job_id}", headers=w.admin))
        if job["finished"]:
            assert job["task"]["status"] == "done", job
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


async def _suggestions(w: World) -> dict[int, str | None]:
    page = await _ok(w.gw.get("/api/v1/images", headers=w.admin,
                              params={"project": w.project, "state": "predicted", "limit": 500}))
    return {i["id"]: i["label"] for i in page["data"] if i["id"] in w.truth}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp: Path = tmp_path_factory.mktemp("adaptation")
    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(in_process_services(tmp, "nauplius_adapt"))
        settings = GatewaySettings(embedder_url="http://embedder", search_url="http://search",
                                   catalog_url="http://catalog", auth="on")
        w = World()
        w.gw = await stack.enter_async_context(running_gateway(settings, services))
        w.catalog = await stack.enter_async_context(httpx.AsyncClient(
            transport=services, base_url="http://catalog", headers=SERVICE_HEADERS))
        w.search = await stack.enter_async_context(httpx.AsyncClient(
            transport=services, base_url="http://search", headers=SERVICE_HEADERS))
        w.admin = {"Authorization": f"Bearer {(tmp / 'admin-api-key').read_text().strip()}"}
        http = await stack.enter_async_context(httpx.AsyncClient(transport=services))
        await stack.enter_async_context(running_worker(http))
        person = await _ok(w.gw.post("/api/v1/annotators", json={"name": "Vera"}, headers=w.admin))
        key = await _ok(w.gw.post("/api/v1/api-keys", headers=w.admin,
                                  json={"annotator_id": person["id"], "role": "viewer"}))
        w.viewer = {"Authorization": f"Bearer {key['key']}"}
        for taxon in ("daphnia", "bosmina"):
            await _ok(w.gw.post("/api/v1/taxa", json={"name": taxon}, headers=w.admin))
        # One real image: the collection exists and says the model's dimension.
        real = sorted((ZOOLAKE / "daphnia").iterdir())[0]
        [uploaded] = (await _ok(w.gw.post("/api/v1/images", headers=w.admin,
                                          files=[("files", (real.name, real.read_bytes()))])))["data"]
        w.model = (await _ok(w.gw.get("/api/v1/model", headers=w.admin)))["name"]
        [stored] = (await _ok(w.search.post(f"/v1/collections/{w.model}/points/vectors",
                                            json={"ids": [uploaded["id"]]})))["data"]
        w.project = (await _ok(w.gw.post("/api/v1/projects", json={"name": "second instrument"},
                                         headers=w.admin)))["id"]

        classes = ["daphnia"] * PER_CLASS + ["bosmina"] * PER_CLASS
        sides = [1.0] * (PER_CLASS - 1) + [-1.0] + [-1.0] * (PER_CLASS - 1) + [1.0]
        query_classes = ["daphnia"] * QUERIES + ["bosmina"] * QUERIES
        query_sides = [-1.0] * QUERIES + [1.0] * QUERIES
        rows = [{"sha256": hashlib.sha256(f"adapt-{n}".encode()).hexdigest(), "project_id": w.project,
                 "label": c, "label_state": "validated"} for n, c in enumerate(classes)]
        rows += [{"sha256": hashlib.sha256(f"adapt-q{n}".encode()).hexdigest(),
                  "project_id": w.project} for n in range(len(query_classes))]
        ids = (await _ok(w.catalog.post("/v1/images/bulk-rows", json={"rows": rows})))["image_ids"]
        vectors = nuisance_vectors(len(stored["vector"]), sides + query_sides, classes + query_classes, 0)
        points = [{"id": i, "vector": v.tolist(),
                   "payload": {"label": row.get("label"),
                               "state": row.get("label_state", "unlabelled"),
                               "instrument": None, "sample": None, "project": str(w.project)}}
                  for i, v, row in zip(ids, vectors, rows, strict=True)]
        await _ok(w.search.put(f"/v1/collections/{w.model}/points", json={"points": points}))
        await _ok(w.catalog.post("/v1/images/indexed", json={"ids": ids, "model": w.model}))
        w.validated = ids[:len(classes)]
        w.truth = dict(zip(ids[len(classes):], query_classes, strict=True))
        yield w


async def test_plain_neighbours_of_the_queries_are_the_other_class(world: World) -> None:
    """The case is hard for the plain embedding (else the next test could not fail)."""
    for image_id, taxon in world.truth.items():
        hits = (await _ok(world.search.post(f"/v1/collections/{world.model}/query", json={
            "id": image_id, "k": 10, "filter": {"state": "validated"}})))["data"]
        assert sum(h["payload"]["label"] != taxon for h in hits) >= 8, (image_id, hits)


async def test_a_refit_job_makes_the_projects_suggestions_right(world: World) -> None:
    state = await _ok(world.gw.get(f"/api/v1/projects/{world.project}/adaptation",
                                   headers=world.admin))
    assert state["active"] is None and state["versions"] == []
    assert state["validated"] == 2 * PER_CLASS and state["next_refit_at"] == 20
    # A refresh finds the project past the first fit's mark and queues the refit itself.
    refresh = await _ok(world.gw.post("/api/v1/suggestions/refresh", headers=world.admin,
                                      params={"project": world.project, "mode": "full"}))
    [job_id] = refresh["job"]["task"]["result"]["adaptation_jobs"]
    job = await _job(world, job_id)
    result = job["task"]["result"]
    assert result["active"] is True and result["kind"] == "lda"
    assert result["cv_top1_adapted"] > result["cv_top1_plain"]
    assert result["suggestions"]["images"] == len(world.truth)
    assert await _suggestions(world) == world.truth

    state = await _ok(world.gw.get(f"/api/v1/projects/{world.project}/adaptation",
                                   headers=world.admin))
    assert state["active"]["version"] == result["version"] and state["active"]["job_id"] == job_id
    assert state["next_refit_at"] == 2 * PER_CLASS + 20 and state["can_refit"] is True


async def test_the_head_learned_from_validated_labels_only(world: World) -> None:
    """The queries hold suggestions (predicted labels) when the next refit runs: none of them
    may reach the head."""
    assert len(await _suggestions(world)) == len(world.truth)
    answer = await _ok(world.gw.post(f"/api/v1/projects/{world.project}/adaptation/refit",
                                     headers=world.admin))
    assert answer["queued"] is True
    job = await _job(world, answer["job_id"])
    assert job["task"]["result"]["labels"] == 2 * PER_CLASS
    active = await _ok(world.catalog.get(f"/v1/projects/{world.project}/adaptation/active",
                                         params={"model": world.model}))
    head = AdaptationHead.from_bytes(base64.b64decode(active["head"]))
    assert head.description["learned_from"]["images"] == 2 * PER_CLASS
    state = await _ok(world.gw.get(f"/api/v1/projects/{world.project}/adaptation",
                                   headers=world.admin))
    # Two versions, newest first; only the newest active.
    assert [v["active"] for v in state["versions"]] == [True, False]
    assert state["versions"][0]["job_id"] == answer["job_id"]


async def test_a_refresh_of_every_project_votes_in_each_projects_space(world: World) -> None:
    refresh = await _ok(world.gw.post("/api/v1/suggestions/refresh", headers=world.admin,
                                      params={"mode": "full"}))
    assert refresh["job"]["task"]["status"] == "done"
    assert await _suggestions(world) == world.truth


async def test_similar_search_in_the_project_uses_the_adapted_space(world: World) -> None:
    for image_id, taxon in world.truth.items():
        near = await _ok(world.gw.get(f"/api/v1/images/{image_id}/similar", headers=world.admin,
                                      params={"k": 5}))
        labels = [n["label"] for n in near["data"] if n["label"] is not None]
        assert labels and set(labels) == {taxon}, (image_id, near)
        found = await _ok(world.gw.post("/api/v1/similar", headers=world.admin, json={
            "image_ids": [image_id], "project": world.project, "state": "validated", "limit": 5}))
        assert [m["label"] for m in found["data"]] == [taxon] * 5, found


async def test_route_errors(world: World) -> None:
    url = f"/api/v1/projects/{world.project}/adaptation"
    assert (await world.gw.post(f"{url}/refit", headers=world.viewer)).status_code == 403
    assert (await world.gw.get(url, headers=world.viewer)).status_code == 200
    missing = await world.gw.get("/api/v1/projects/999999/adaptation", headers=world.admin)
    assert missing.status_code == 404 and "project 999999" in missing.json()["detail"]
    assert (await world.gw.post("/api/v1/projects/999999/adaptation/refit",
                                headers=world.admin)).status_code == 404
    assert (await world.gw.get("/api/v1/projects/0/adaptation", headers=world.admin)).status_code == 422
    assert (await world.gw.get(url)).status_code == 401


CLUSTERED_PER_GROUP = 8  # unlabelled images per (class, side)


def _purity(clusters: list[list[int]], truth: dict[int, str]) -> float:
    """Size-weighted share of each cluster's members in its most common class."""
    sizes = [len(c) for c in clusters]
    top = [max(Counter(truth[i] for i in c).values()) for c in clusters]
    return sum(top) / max(1, sum(sizes))


async def test_clusters_of_the_project_form_in_its_adapted_space(world: World) -> None:
    """New unlabelled images of both classes on both sides, with noise stronger than the class
    signal: plain clusters follow the sides, half of each class; the clusters job of a project
    with an active head clusters in the head's space and follows the classes."""
    groups = [(c, s) for c in ("daphnia", "bosmina") for s in (1.0, -1.0)]
    classes = [c for c, _ in groups for _ in range(CLUSTERED_PER_GROUP)]
    sides = [s for _, s in groups for _ in range(CLUSTERED_PER_GROUP)]
    rows = [{"sha256": hashlib.sha256(f"adapt-cluster-{n}".encode()).hexdigest(),
             "project_id": world.project} for n in range(len(classes))]
    ids = (await _ok(world.catalog.post("/v1/images/bulk-rows", json={"rows": rows})))["image_ids"]
    dim = len((await _ok(world.search.post(f"/v1/collections/{world.model}/points/vectors",
                                           json={"ids": world.validated[:1]})))["data"][0]["vector"])
    vectors = nuisance_vectors(dim, sides, classes, 1)
    vectors += np.random.default_rng(1).normal(0, 0.02, vectors.shape)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    points = [{"id": i, "vector": v.tolist(), "payload": {
        "label": None, "state": "unlabelled", "instrument": None, "sample": None,
        "project": str(world.project)}} for i, v in zip(ids, vectors, strict=True)]
    await _ok(world.search.put(f"/v1/collections/{world.model}/points", json={"points": points}))
    await _ok(world.catalog.post("/v1/images/indexed", json={"ids": ids, "model": world.model}))
    truth = dict(zip(ids, classes, strict=True)) | world.truth

    plain = [p.members for p in propose(ids, vectors)]
    assert plain and _purity(plain, truth) <= 0.6, plain  # the case is hard for the plain space

    answer = await _ok(world.gw.post("/api/v1/clusters/refresh", headers=world.admin,
                                     params={"project": world.project, "wait_s": 60}))
    result = answer["job"]["task"]["result"]
    active = await _ok(world.catalog.get(f"/v1/projects/{world.project}/adaptation/active",
                                         params={"model": world.model}))
    assert result["head_version"] == active["version"] is not None
    queue = (await _ok(world.gw.get("/api/v1/clusters", headers=world.admin,
                                    params={"project": world.project})))["data"]
    clusters = [[m["id"] for m in (await _ok(world.gw.get(
        f"/api/v1/clusters/{c['id']}/images", headers=world.admin,
        params={"limit": 100})))["data"]] for c in queue]
    clustered = [i for c in clusters for i in c if i in ids]
    assert len(clustered) >= len(ids) // 2, clusters
    assert _purity(clusters, truth) >= 0.9, (clusters, truth)
