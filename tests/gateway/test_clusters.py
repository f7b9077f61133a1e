"""Cluster proposals through the gateway, over the real catalog, search and embedder apps
in-process and the real worker: 10 ZooLake classes x 30 images uploaded unlabelled into a project,
a clusters job, the queue, a cluster's pages core outwards, naming all or part of a cluster, and
the routes' errors."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from gateway.config import GatewaySettings
from tests.support.data import ZOOLAKE
from tests.support.gateway import running_gateway
from tests.support.services import in_process_services
from tests.support.worker import running_worker

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLASSES = 10
PER_CLASS = 30
# Measured on this set (the print): 10 clusters, purity (size-weighted share of each cluster's
# most common class) 0.997, coverage (images in some cluster) 0.963; the floors sit a little below.
PURITY_FLOOR = 0.95
COVERAGE_FLOOR = 0.85


class World:
    gw: httpx.AsyncClient
    admin: dict[str, str]
    viewer: dict[str, str]
    project: int
    truth: dict[int, str]


async def _ok(answer: Awaitable[httpx.Response]) -> dict:
    response = await answer
    assert response.status_code < 300, response.text
    body: dict = response.json()
    return body


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp: Path = tmp_path_factory.mktemp("clusters")
    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(in_process_services(tmp, "nauplius_clusters"))
        settings = GatewaySettings(embedder_url="http://embedder", search_url="http://search",
                                   catalog_url="http://catalog", auth="on")
        w = World()
        w.gw = await stack.enter_async_context(running_gateway(settings, services))
        w.admin = {"Authorization": f"Bearer {(tmp / 'admin-api-key').read_text().strip()}"}
        http = await stack.enter_async_context(httpx.AsyncClient(transport=services))
        await stack.enter_async_context(running_worker(http))
        person = await _ok(w.gw.post("/api/v1/annotators", json={"name": "Vera"}, headers=w.admin))
        key = await _ok(w.gw.post("/api/v1/api-keys", headers=w.admin,
                                  json={"annotator_id": person["id"], "role": "viewer"}))
        w.viewer = {"Authorization": f"Bearer {key['key']}"}
        w.project = (await _ok(w.gw.post("/api/v1/projects", json={"name": "lake"},
                                         headers=w.admin)))["id"]
        classes = sorted(d.name for d in ZOOLAKE.iterdir() if d.is_dir()
                         and len(list(d.iterdir())) >= PER_CLASS)[:CLASSES]
        w.truth = {}
        for taxon in classes:
            await _ok(w.gw.post("/api/v1/taxa", json={"name": taxon}, headers=w.admin))
            files = sorted((ZOOLAKE / taxon).iterdir())[:PER_CLASS]
            answer = await _ok(w.gw.post(
                "/api/v1/images", headers=w.admin, data={"project": str(w.project)},
                files=[("files", (f.name, f.read_bytes())) for f in files]))
            w.truth.update({entry["id"]: taxon for entry in answer["data"]})
        assert len(w.truth) == CLASSES * PER_CLASS
        yield w


async def _queue(w: World) -> dict:
    return await _ok(w.gw.get("/api/v1/clusters", headers=w.admin, params={"project": w.project}))


async def _members(w: World, cluster_id: int) -> list[dict]:
    page = await _ok(w.gw.get(f"/api/v1/clusters/{cluster_id}/images", headers=w.admin,
                              params={"limit": 500}))
    data: list[dict] = page["data"]
    assert page["count"] == len(data)
    return data


async def test_a_clusters_job_groups_same_class_images(world: World) -> None:
    assert (await _queue(world))["clustered"] is None  # no run yet
    refresh = await _ok(world.gw.post("/api/v1/clusters/refresh", headers=world.admin,
                                      params={"project": world.project}))
    result = refresh["job"]["task"]["result"]
    assert result["clustered"] == CLASSES * PER_CLASS and result["capped"] is False
    queue = await _queue(world)
    assert queue["clustered"] == CLASSES * PER_CLASS and queue["count"] == result["clusters"] >= 5
    scores = [c["remaining"] * c["estimated_purity"] for c in queue["data"]]
    assert scores == sorted(scores, reverse=True)  # best first
    majority = clustered = 0
    for cluster in queue["data"]:
        members = await _members(world, cluster["id"])
        assert len(members) == cluster["remaining"] == cluster["size"]
        assert cluster["thumbnail_urls"] == [m["thumbnail_url"] for m in members[:4]]
        assert {m["label_state"] for m in members} <= {"unlabelled", "predicted"}
        majority += Counter(world.truth[m["id"]] for m in members).most_common(1)[0][1]
        clustered += len(members)
    purity, coverage = majority / clustered, clustered / len(world.truth)
    print(f"clusters {queue['count']}, purity {purity:.3f}, coverage {coverage:.3f}")
    assert purity >= PURITY_FLOOR and coverage >= COVERAGE_FLOOR


async def test_naming_part_of_a_cluster_leaves_the_rest_in_the_queue(world: World) -> None:
    best = (await _queue(world))["data"][0]
    members = await _members(world, best["id"])
    taxon = Counter(world.truth[m["id"]] for m in members).most_common(1)[0][0]
    named = await _ok(world.gw.post(f"/api/v1/clusters/{best['id']}/name", headers=world.admin,
                                    json={"taxon": taxon, "up_to": 3}))
    assert named["image_ids"] == [m["id"] for m in members[:3]]
    assert named["remaining"] == len(members) - 3
    left = await _members(world, best["id"])
    assert [m["id"] for m in left] == [m["id"] for m in members[3:]]  # still core outwards
    image = await _ok(world.gw.get(f"/api/v1/images/{members[0]['id']}", headers=world.admin))
    assert (image["label"], image["label_state"]) == (taxon, "validated")
    # Named by listed ids: only those.
    pick = [left[-1]["id"]]
    named = await _ok(world.gw.post(f"/api/v1/clusters/{best['id']}/name", headers=world.admin,
                                    json={"taxon": taxon, "image_ids": pick}))
    assert named["image_ids"] == pick
    after = {c["id"]: c for c in (await _queue(world))["data"]}
    assert after[best["id"]]["remaining"] == len(members) - 4
    # Naming the whole rest takes the cluster out of the queue.
    await _ok(world.gw.post(f"/api/v1/clusters/{best['id']}/name", headers=world.admin,
                            json={"taxon": taxon, "up_to": 10_000}))
    assert best["id"] not in {c["id"] for c in (await _queue(world))["data"]}
    gone = await world.gw.post(f"/api/v1/clusters/{best['id']}/name", headers=world.admin,
                               json={"taxon": taxon, "up_to": 1})
    assert gone.status_code == 409 and "no unjudged members" in gone.text


async def test_a_new_run_is_queued_once_labels_changed_enough(world: World) -> None:
    """rerun_due: the human-validated count moved by >= max(20, clustered / 4) = 75 here."""
    refresh = await _ok(world.gw.post("/api/v1/suggestions/refresh", headers=world.admin,
                                      params={"project": world.project, "mode": "full"}))
    assert refresh["job"]["task"]["result"]["cluster_jobs"] == []  # 30 validated: not yet
    for cluster in (await _queue(world))["data"][:2]:
        members = await _members(world, cluster["id"])
        taxon = Counter(world.truth[m["id"]] for m in members).most_common(1)[0][0]
        await _ok(world.gw.post(f"/api/v1/clusters/{cluster['id']}/name", headers=world.admin,
                                json={"taxon": taxon, "up_to": 10_000}))
    validated = (await _ok(world.gw.get("/api/v1/label-counts", headers=world.admin,
                                        params={"project": world.project})))["validated"]
    assert validated >= 75
    # The incremental suggestions job the naming started queued the run (the worker asks
    # after each suggestions job); it reclusters what is left unjudged.
    for _ in range(600):
        queue = await _queue(world)
        if queue["clustered"] == CLASSES * PER_CLASS - validated:
            break
        await asyncio.sleep(0.2)
    assert queue["clustered"] == CLASSES * PER_CLASS - validated, queue


async def test_route_errors(world: World) -> None:
    cluster = (await _queue(world))["data"][0]
    url = f"/api/v1/clusters/{cluster['id']}/name"
    both = await world.gw.post(url, headers=world.admin, json={"taxon": "x", "up_to": 1,
                                                               "image_ids": [1]})
    assert both.status_code == 422 and "exactly one of up_to" in both.text
    stranger = await world.gw.post(url, headers=world.admin,
                                   json={"taxon": "x", "image_ids": [10**9]})
    assert stranger.status_code == 422 and "not unjudged members" in stranger.text
    assert (await world.gw.post(url, headers=world.viewer,
                                json={"taxon": "x", "up_to": 1})).status_code == 403
    assert (await world.gw.post("/api/v1/clusters/refresh", headers=world.viewer,
                                params={"project": world.project})).status_code == 403
    missing = await world.gw.get("/api/v1/clusters/999999/images", headers=world.admin)
    assert missing.status_code == 404 and "cluster 999999 not found" in missing.text
    no_project = await world.gw.get("/api/v1/clusters", headers=world.admin)
    assert no_project.status_code == 422
    assert (await world.gw.get("/api/v1/clusters", headers=world.admin,
                               params={"project": 99999})).status_code == 404
