"""Zero-downtime model switch through the gateway, over the real catalog, search and embedder
apps in-process (the embedder serving two real carded models) and the real worker: ~100 ZooLake
images indexed in plankton-lite0-int8, a re-embed into plankton-lite0 while a probe asks for
similar images every ~50 ms (no error, never an empty answer, before, during and after the
switch), new uploads and a label change meanwhile reaching both collections, the switch refused
until complete, and switching back giving the previous answers exactly. At the end, retiring:
refused for the active version; a complete one's collection dropped; a filling one's job failed
under its running worker, which stops without ending it 'done'."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from gateway.config import GatewaySettings
from nauplius.core.clients import SearchClient
from nauplius.core.errors import DownstreamRejected
from tests.support.data import REPO_ROOT, ZOOLAKE
from tests.support.gateway import running_gateway
from tests.support.service_key import SERVICE_KEY
from tests.support.services import in_process_services
from tests.support.worker import running_worker

pytestmark = pytest.mark.asyncio(loop_scope="module")

OLD, NEW = "plankton-lite0-int8", "plankton-lite0"
CLASSES, PER_CLASS = 10, 10
LATE = 3  # images uploaded while the new version is filling
QUERIES = 8  # images whose neighbours are compared before and after switching back


@dataclass
class Probe:
    """GET /images/{id}/similar every ~50 ms until stopped: each answer's status and size."""

    answers: list[tuple[int, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    async def run(self, gw: httpx.AsyncClient, headers: dict[str, str], image_id: int) -> None:
        while True:
            response = await gw.get(f"/api/v1/images/{image_id}/similar", params={"k": 5},
                                    headers=headers)
            size = len(response.json().get("data") or []) if response.status_code == 200 else 0
            self.answers.append((response.status_code, size))
            if response.status_code != 200 or size == 0:
                self.failures.append(f"{response.status_code}: {response.text[:200]}")
            await asyncio.sleep(0.05)


class World:
    gw: httpx.AsyncClient
    admin: dict[str, str]
    search: SearchClient
    ids: list[int]


async def _ok(answer: Awaitable[httpx.Response], status: int = 200) -> dict:
    response = await answer
    assert response.status_code == status, response.text
    body: dict = response.json()
    return body


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp: Path = tmp_path_factory.mktemp("switch")
    models = [str(REPO_ROOT / "models" / f"{name}.onnx") for name in (OLD, NEW)]
    async with AsyncExitStack() as stack:
        env = stack.enter_context(pytest.MonkeyPatch.context())
        env.setenv("EMBEDDER_MODEL_PATHS", json.dumps(models))
        services = await stack.enter_async_context(in_process_services(tmp, "nauplius_switch"))
        settings = GatewaySettings(embedder_url="http://embedder", search_url="http://search",
                                   catalog_url="http://catalog", auth="on")
        w = World()
        w.gw = await stack.enter_async_context(running_gateway(settings, services))
        w.admin = {"Authorization": f"Bearer {(tmp / 'admin-api-key').read_text().strip()}"}
        http = await stack.enter_async_context(httpx.AsyncClient(transport=services))
        w.search = SearchClient(http, "http://search", SERVICE_KEY)
        await stack.enter_async_context(running_worker(http, batch_size=8))
        classes = sorted(d.name for d in ZOOLAKE.iterdir() if d.is_dir()
                         and len(list(d.iterdir())) >= PER_CLASS + LATE)[:CLASSES]
        w.ids = []
        for taxon in classes:
            files = sorted((ZOOLAKE / taxon).iterdir())[:PER_CLASS]
            answer = await _ok(w.gw.post(
                "/api/v1/images", headers=w.admin, data={"label": taxon},
                files=[("files", (f.name, f.read_bytes())) for f in files]))
            w.ids += [entry["id"] for entry in answer["data"]]
        assert len(w.ids) == CLASSES * PER_CLASS
        yield w


async def _models(w: World) -> dict[str, dict]:
    body = await _ok(w.gw.get("/api/v1/models", headers=w.admin))
    return {view["name"]: {**view, "is_active": body["active"] == view["name"]}
            for view in body["data"]}


async def _answers(w: World) -> list[list[tuple[int, float]]]:
    found = []
    for image_id in w.ids[::len(w.ids) // QUERIES][:QUERIES]:
        body = await _ok(w.gw.get(f"/api/v1/images/{image_id}/similar", params={"k": 10},
                                  headers=w.admin))
        found.append([(hit["id"], hit["score"]) for hit in body["data"]])
    return found


async def _active_everywhere(w: World, name: str) -> None:
    """The gateway's answer names `name`; then a second for the worker's (its TTL is 1 s)."""
    assert (await _ok(w.gw.get("/api/v1/model", headers=w.admin)))["name"] == name
    await asyncio.sleep(1.5)


async def test_before_any_switch_the_default_model_is_active(world: World):
    models = await _models(world)
    assert list(models) == [OLD, NEW]
    assert models[OLD]["active"] and models[OLD]["default"] and models[OLD]["state"] == "complete"
    assert models[NEW]["state"] is None and not models[NEW]["active"]
    refused = await world.gw.post(f"/api/v1/models/{NEW}/activate", headers=world.admin)
    assert refused.status_code == 404 and "queue its re-embed first" in refused.json()["detail"]
    unknown = await world.gw.post("/api/v1/models/plankton-lite9/reembed", headers=world.admin)
    assert unknown.status_code == 404 and OLD in unknown.json()["detail"]
    active = await world.gw.post(f"/api/v1/models/{OLD}/reembed", headers=world.admin)
    assert active.status_code == 409 and "active version" in active.json()["detail"]


async def test_a_reembed_and_switch_answer_every_query_and_back_is_exact(world: World):
    w = world
    probe = Probe()
    probing = asyncio.create_task(probe.run(w.gw, w.admin, w.ids[0]))
    try:
        queued = await _ok(w.gw.post(f"/api/v1/models/{NEW}/reembed", headers=w.admin), 202)
        assert queued["queued"] is True and queued["job"]["kind"] == "reembed"
        again = await _ok(w.gw.post(f"/api/v1/models/{NEW}/reembed", headers=w.admin), 202)
        assert again["queued"] is False and again["job"]["id"] == queued["job"]["id"]
        early = await w.gw.post(f"/api/v1/models/{NEW}/activate", headers=w.admin)
        assert early.status_code == 409 and "not complete" in early.json()["detail"]

        # Meanwhile: new images (embedded with both versions) and a label change (both payloads).
        late_files = sorted((ZOOLAKE / "daphnia").iterdir())[-LATE:]
        late = await _ok(w.gw.post("/api/v1/images", headers=w.admin, data={"label": "daphnia"},
                                   files=[("files", (f.name, f.read_bytes())) for f in late_files]))
        late_ids = [entry["id"] for entry in late["data"]]
        relabelled = w.ids[-1]
        await _ok(w.gw.put(f"/api/v1/images/{relabelled}/label", headers=w.admin,
                           json={"taxon": "relabelled-during-switch"}))

        seen_done: set[int] = set()
        started = time.monotonic()
        deadline = started + 300
        while (models := await _models(w))[NEW]["state"] != "complete":
            assert time.monotonic() < deadline, models[NEW]
            assert models[OLD]["is_active"]
            seen_done.add(models[NEW]["done"])
            await asyncio.sleep(0.2)
        filled_s = time.monotonic() - started
        stored = CLASSES * PER_CLASS + LATE
        assert models[NEW]["done"] == models[NEW]["total"] == stored
        assert len(seen_done) >= 2, seen_done  # the counter moved while the page looked
        for _ in range(50):  # the job ends just after the version is recorded complete
            job = await _ok(w.gw.get(f"/api/v1/jobs/{queued['job']['id']}", headers=w.admin))
            if job["task"]["status"] != "running":
                break
            await asyncio.sleep(0.1)
        assert job["task"]["status"] == "done", job
        assert job["task"]["result"]["embedded"] == stored, job

        assert (await w.search.collection_info(NEW)).count == stored
        assert (await w.search.collection_info(OLD)).count == stored
        for name in (OLD, NEW):
            points = {p.id: p.payload for p in await w.search.retrieve(name, [relabelled, *late_ids])}
            assert points[relabelled]["label"] == "relabelled-during-switch", name
            assert all(points[i]["label"] == "daphnia" for i in late_ids), name

        before = await _answers(w)
        assert all(len(hits) == 10 for hits in before)
        switched = await _ok(w.gw.post(f"/api/v1/models/{NEW}/activate", headers=w.admin))
        assert switched["active"] is True and switched["name"] == NEW
        assert switched["default"] is False
        await _active_everywhere(w, NEW)
        after_switch = await _answers(w)
        assert after_switch != before  # another model's neighbours

        # Changes after the switch still reach the version switched from.
        await _ok(w.gw.put(f"/api/v1/images/{relabelled}/label", headers=w.admin,
                           json={"taxon": "relabelled-after-switch"}))

        back = await _ok(w.gw.post(f"/api/v1/models/{OLD}/activate", headers=w.admin))
        assert back["name"] == OLD and back["active"] is True and back["default"] is True
        await _active_everywhere(w, OLD)
        assert await _answers(w) == before
        [point] = await w.search.retrieve(OLD, [relabelled])
        assert point.payload["label"] == "relabelled-after-switch"
        # A new image goes to the version switched from too: it stays complete.
        extra = sorted((ZOOLAKE / "daphnia").iterdir())[-LATE - 1]
        [entry] = (await _ok(w.gw.post("/api/v1/images", headers=w.admin,
                                       files=[("files", (extra.name, extra.read_bytes()))])))["data"]
        for name in (OLD, NEW):
            assert [p.id for p in await w.search.retrieve(name, [entry["id"]])] == [entry["id"]]
    finally:
        probing.cancel()
        await asyncio.gather(probing, return_exceptions=True)
    print(f"probe: {len(probe.answers)} answers, {len(probe.failures)} failures; "
          f"re-embed of {CLASSES * PER_CLASS + LATE} images in {filled_s:.1f} s")
    assert probe.failures == []
    assert len(probe.answers) >= 20, len(probe.answers)
    models = await _models(w)
    assert models[OLD]["is_active"] and models[NEW]["state"] == "complete"


async def _reconciled(w: World, repair: bool) -> dict:
    job = await _ok(w.gw.post("/api/v1/reconcile", headers=w.admin, json={"repair": repair}), 202)
    for _ in range(600):
        done = await _ok(w.gw.get(f"/api/v1/jobs/{job['id']}", headers=w.admin))
        if done["finished"]:
            assert done["task"]["status"] == "done", done
            result: dict = done["task"]["result"]
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"reconcile job {job['id']} did not finish")


async def test_reconcile_checks_and_mends_the_version_switched_from_too(world: World):
    w = world
    stored = (await w.search.collection_info(OLD)).count
    lost, relabelled = w.ids[1], w.ids[2]
    await w.search.delete(NEW, [lost])  # the kept version loses a point and a payload goes stale
    await w.search.set_payload(NEW, [relabelled], {"label": "stale-in-the-kept-version"})
    found = await _reconciled(w, repair=False)
    assert found["model"] == OLD and found["missing_vectors"] == 0 and found["stale_payloads"] == 0
    kept = found["versions"][NEW]
    assert kept["missing_vectors"] == 1 and kept["examples"]["missing_vectors"] == [lost]
    assert kept["stale_payloads"] == 1 and kept["stale_fields"] == {"label": 1}
    repaired = (await _reconciled(w, repair=True))["versions"][NEW]["repaired"]
    assert repaired == {"reindexed": 1, "deleted_points": 0, "payloads": 1}
    assert (await w.search.collection_info(NEW)).count == stored
    [point] = await w.search.retrieve(NEW, [relabelled])
    assert point.payload["label"] != "stale-in-the-kept-version"
    clean = await _reconciled(w, repair=False)
    assert all(clean["versions"][NEW][k] == 0
               for k in ("missing_vectors", "orphan_points", "stale_payloads"))


async def _gone(w: World, name: str) -> None:
    with pytest.raises(DownstreamRejected) as refused:
        await w.search.collection_info(name)
    assert refused.value.status_code == 404


async def test_retiring_drops_a_version_and_stops_its_filling_job(world: World):
    w = world
    active = await w.gw.delete(f"/api/v1/models/{OLD}", headers=w.admin)
    assert active.status_code == 409 and "switch to another version first" in active.json()["detail"]
    stored = (await w.search.collection_info(NEW)).count
    retired = await _ok(w.gw.delete(f"/api/v1/models/{NEW}", headers=w.admin))
    assert retired == {"name": NEW, "state": "complete", "points_dropped": stored,
                       "collection_dropped": True, "job_ended": None}
    models = await _models(w)
    assert models[NEW]["state"] is None and not models[NEW]["active"] and models[OLD]["is_active"]
    await _gone(w, NEW)
    unknown = await w.gw.delete(f"/api/v1/models/{NEW}", headers=w.admin)
    assert unknown.status_code == 404 and NEW in unknown.json()["detail"]
    # A collection left behind without a version (its drop failed after the catalog forgot it).
    await w.search.ensure_collection(NEW, (await w.search.collection_info(OLD)).dim)
    leftover = await _ok(w.gw.delete(f"/api/v1/models/{NEW}", headers=w.admin))
    assert leftover == {"name": NEW, "state": None, "points_dropped": 0,
                        "collection_dropped": True, "job_ended": None}
    await _gone(w, NEW)

    # Queued again, then retired while the worker fills it.
    queued = await _ok(w.gw.post(f"/api/v1/models/{NEW}/reembed", headers=w.admin), 202)
    job_id = queued["job"]["id"]
    for _ in range(600):
        if (models := await _models(w))[NEW]["done"] > 0:
            break
        await asyncio.sleep(0.1)
    assert models[NEW]["state"] == "filling" and models[NEW]["done"] < stored, models[NEW]
    retired = await _ok(w.gw.delete(f"/api/v1/models/{NEW}", headers=w.admin))
    assert retired["state"] == "filling" and retired["job_ended"] == job_id
    assert retired["collection_dropped"] is True
    await asyncio.sleep(2)  # the worker's next report or upsert is refused; it drops the job
    job = await _ok(w.gw.get(f"/api/v1/jobs/{job_id}", headers=w.admin))
    assert job["task"]["status"] == "failed" and job["finished"], job
    assert f"model {NEW} was retired" in job["task"]["error"], job
    assert (await _models(w))[NEW]["state"] is None
    await _gone(w, NEW)  # nothing wrote it back
    assert (await w.search.collection_info(OLD)).count == stored
