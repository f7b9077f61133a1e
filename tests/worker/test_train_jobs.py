"""Fine-tuning from a project, over the real catalog, search and embedder apps in-process, the real
gateway and the real worker: a few real ZooLake images per class are uploaded with their labels
into a project, fetched back through the gateway's REST API (as `nauplius model train --project`
does) and through the catalog (the worker's `train` job), and trained on for one short epoch into
a loadable ONNX model with its card. The route's role and its refusals are checked too."""


import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import numpy as np
import pytest
import pytest_asyncio

pytest.importorskip("torch")

from gateway.config import GatewaySettings
from nauplius.core.preprocess import decode_image
from nauplius.training.project import GatewayImages, fetch_project, train_on_tree
from nauplius.training.train import TrainConfig
from services.embedder.card import load_card
from services.embedder.model import Embedder
from services.worker import training
from tests.support.data import ZOOLAKE
from tests.support.gateway import running_gateway
from tests.support.services import in_process_services
from tests.support.worker import running_worker

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLASSES = ["daphnia", "fish", "ceratium"]
PER_CLASS = 4


class World:
    gw: httpx.AsyncClient
    admin: dict[str, str]
    annotator: dict[str, str]
    project: int
    empty_project: int
    sha256: dict[str, str]  # uploaded file's sha256 -> its class
    models: Path


async def _ok(answer: Awaitable[httpx.Response]) -> dict:
    response = await answer
    assert response.status_code < 300, response.text
    body: dict = response.json()
    return body


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp: Path = tmp_path_factory.mktemp("train")
    async with AsyncExitStack() as stack:
        services = await stack.enter_async_context(in_process_services(tmp, "nauplius_train"))
        settings = GatewaySettings(embedder_url="http://embedder", search_url="http://search",
                                   catalog_url="http://catalog", auth="on")
        w = World()
        w.models = tmp / "models"
        w.gw = await stack.enter_async_context(running_gateway(settings, services))
        w.admin = {"Authorization": f"Bearer {(tmp / 'admin-api-key').read_text().strip()}"}
        w.gw.headers.update(w.admin)  # what GatewayImages sends, as the command's client does
        http = await stack.enter_async_context(httpx.AsyncClient(transport=services))
        await stack.enter_async_context(running_worker(http, models_dir=str(w.models)))
        person = await _ok(w.gw.post("/api/v1/annotators", json={"name": "Ana"}, headers=w.admin))
        key = await _ok(w.gw.post("/api/v1/api-keys", headers=w.admin,
                                  json={"annotator_id": person["id"], "role": "annotator"}))
        w.annotator = {"Authorization": f"Bearer {key['key']}"}
        w.project = (await _ok(w.gw.post("/api/v1/projects", json={"name": "lake camera"},
                                         headers=w.admin)))["id"]
        w.empty_project = (await _ok(w.gw.post("/api/v1/projects", json={"name": "nothing yet"},
                                               headers=w.admin)))["id"]
        w.sha256 = {}
        for taxon in CLASSES:
            paths = sorted((ZOOLAKE / taxon).iterdir())[:PER_CLASS]
            files = [("files", (p.name, p.read_bytes())) for p in paths]
            await _ok(w.gw.post("/api/v1/images", headers=w.admin, files=files,
                                data={"label": taxon, "project": str(w.project)}))
            w.sha256 |= {hashlib.sha256(p.read_bytes()).hexdigest(): taxon for p in paths}
        # One unlabelled image in the project: it is not among what training learns from.
        extra = sorted((ZOOLAKE / "bosmina").iterdir())[0]
        await _ok(w.gw.post("/api/v1/images", headers=w.admin, data={"project": str(w.project)},
                            files=[("files", (extra.name, extra.read_bytes()))]))
        yield w


async def _finished(w: World, job_id: int) -> dict:
    for _ in range(1200):
        job = await _ok(w.gw.get(f"/api/v1/jobs/{job_id}", headers=w.admin))
        if job["finished"]:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


async def test_the_gateway_hands_over_the_projects_validated_images_byte_for_byte(
        world: World, tmp_path: Path) -> None:
    tree = await fetch_project(GatewayImages(world.gw, world.project), tmp_path)
    assert tree.per_class == {taxon: PER_CLASS for taxon in sorted(CLASSES)}
    written = {hashlib.sha256(p.read_bytes()).hexdigest(): p.parent.name
               for p in tree.folder.rglob("*") if p.is_file()}
    assert written == world.sha256


async def test_a_project_run_exports_a_loadable_model_whose_card_names_the_project(
        world: World, tmp_path: Path) -> None:
    tree = await fetch_project(GatewayImages(world.gw, world.project), tmp_path / "scratch")
    config = TrainConfig(data=[], epochs=1, out=tmp_path / "project-lite0", resolution=64,
                         batch_size=6, frozen_stages=12)
    result = await asyncio.to_thread(train_on_tree, tree, world.project, config, None, False)
    card = load_card(result.onnx_path)  # checks the sha256 against the file
    raw = json.loads(result.onnx_path.with_suffix(".json").read_text())
    assert raw["project"] == world.project
    assert raw["labels"] == len(CLASSES) * PER_CLASS and raw["classes"] == len(CLASSES)
    assert raw["source_model"]["base"] == "efficientnet-lite0"
    assert "efficientnet-lite0" in raw["source_model"]["weights"]
    assert raw["training"]["project"]["labels_per_class"] == {c: PER_CLASS for c in CLASSES}
    (data,) = raw["training"]["data_sets"]
    assert data["name"] == f"project-{world.project}" and data["n_images"] == 12
    assert card.input_size == (64, 64)
    embedder = Embedder(result.onnx_path, threads=1)
    image = decode_image(next(p for p in tree.folder.rglob("*") if p.is_file()).read_bytes(), 10**8)
    vector = embedder.embed_images([image])[0]
    assert vector.shape == (1280,) and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3


async def test_the_train_job_writes_a_new_model_version_with_progress_in_epochs(world: World) -> None:
    job = await _ok(world.gw.post(f"/api/v1/projects/{world.project}/train", headers=world.admin,
                                  json={"epochs": 1, "resolution": 64}))
    assert job["kind"] == "train" and job["source"] == "train"
    done = await _finished(world, job["id"])
    task = done["task"]
    assert task["status"] == "done", task
    result = task["result"]
    labels = len(CLASSES) * PER_CLASS
    assert result["labels"] == labels and result["classes"] == len(CLASSES)
    assert task["done"] == task["total"] == labels + 1  # every image fetched, then one epoch
    onnx_path = Path(result["onnx_path"])
    assert onnx_path.parent == world.models
    assert onnx_path.name == f"project{world.project}-efficientnet-lite0-job{job['id']}.onnx"
    card = load_card(onnx_path)
    assert card.name == onnx_path.stem and card.input_size == (64, 64)
    assert json.loads(onnx_path.with_suffix(".json").read_text())["project"] == world.project


async def test_a_reconcile_queued_behind_a_running_train_job_ends_before_it(world: World) -> None:
    """The worker's second task loop takes the short kinds only (services/worker/loop.py): with a
    single loop the reconcile would wait for the whole fine-tune."""
    train = await _ok(world.gw.post(f"/api/v1/projects/{world.project}/train",
                                    headers=world.admin, json={"epochs": 4, "resolution": 64}))
    for _ in range(600):
        job = await _ok(world.gw.get(f"/api/v1/jobs/{train['id']}", headers=world.admin))
        if job["task"]["status"] == "running":
            break
        await asyncio.sleep(0.05)
    assert job["task"]["status"] == "running", job
    reconcile = await _ok(world.gw.post("/api/v1/reconcile", headers=world.admin, json={}))
    reconciled = await _finished(world, reconcile["id"])
    assert reconciled["task"]["status"] == "done", reconciled
    still = await _ok(world.gw.get(f"/api/v1/jobs/{train['id']}", headers=world.admin))
    assert not still["finished"], "the train job ended before the reconcile: nothing was shown"
    assert (await _finished(world, train["id"]))["task"]["status"] == "done"


async def test_without_torch_the_train_job_fails_saying_what_is_missing(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Uninstalling torch under a running test cannot be done: the worker is told it is absent.
    monkeypatch.setattr(training, "torch_installed", lambda: False)
    job = await _ok(world.gw.post(f"/api/v1/projects/{world.project}/train", headers=world.admin))
    task = (await _finished(world, job["id"]))["task"]
    assert task["status"] == "failed"
    assert "torch is missing" in task["error"] and "'train' extra" in task["error"]


async def test_the_train_route_is_for_admins_and_names_a_missing_project(world: World) -> None:
    refused = await world.gw.post(f"/api/v1/projects/{world.project}/train",
                                  headers=world.annotator)
    assert refused.status_code == 403
    missing = await world.gw.post("/api/v1/projects/9999/train", headers=world.admin)
    assert missing.status_code == 404 and "project 9999 not found" in missing.json()["detail"]
    empty = await world.gw.post(f"/api/v1/projects/{world.empty_project}/train",
                                headers=world.admin)
    assert empty.status_code == 422 and "0 validated" in empty.json()["detail"]
    odd = await world.gw.post(f"/api/v1/projects/{world.project}/train", headers=world.admin,
                              json={"resolution": 100})
    assert odd.status_code == 422 and "multiple of 32" in odd.text
