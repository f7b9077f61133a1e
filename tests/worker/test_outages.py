"""Durable ingest jobs over real processes: services and the worker killed mid-job lose nothing
and index every item once."""
from __future__ import annotations

import hashlib
import time

import httpx
import pytest

from nauplius.formats.discover import read_paths
from nauplius.ingest import follow_job, ingest, send_job
from tests.support.stack import running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # Small batches: several rounds, so a kill lands mid-job.
    with running_stack(tmp_path_factory.mktemp("nauplius-outages"), "nauplius_outages",
                       WORKER_BATCH_SIZE="8") as running:
        yield running


def indexed_count(stack) -> int:
    search = stack.services["search"].url
    headers = stack.service_headers()
    collections = httpx.get(f"{stack.services['embedder'].url}/v1/model",
                            headers=headers).json()["name"]
    answer = httpx.get(f"{search}/v1/collections/{collections}/count", headers=headers)
    return 0 if answer.status_code == 404 else answer.json()["count"]  # 404: nothing indexed yet


def test_kill_embedder_and_worker_mid_job_loses_nothing(stack, client, shared_data):
    folder = shared_data / "ndsb" / "acantharia_protist"
    images = sorted(folder.iterdir())[:40]
    job_id = send_job(client, read_paths(images))
    stack.kill("embedder")
    time.sleep(1.5)
    stack.restart("embedder")
    stack.kill("worker")
    time.sleep(1.0)
    stack.restart("worker")
    status = follow_job(client, job_id, progress=False)
    assert status["counts"]["done"] == 40 and status["counts"]["failed"] == 0, status
    catalog = stack.services["catalog"].url
    assert httpx.get(f"{catalog}/v1/images", params={"limit": 1},
                     headers=stack.service_headers()).json()["count"] == 40
    assert indexed_count(stack) == 40

    again = ingest(images, str(client.base_url), progress=False, api_key=stack.api_key)
    assert (again.stored, again.duplicates, again.errors) == (0, 40, [])
    assert indexed_count(stack) == 40


def test_kill_search_mid_job_indexes_every_item_once(stack, client, shared_data):
    images = [path for name in ("chaetognath_sagitta", "copepod_calanoid", "amphipods")
              for path in sorted((shared_data / "ndsb" / name).iterdir())]
    before = indexed_count(stack)
    job_id = send_job(client, read_paths(images))
    # Kill as soon as the first items are done: a fixed sleep raced a fast machine to the end.
    deadline = time.monotonic() + 60
    while client.get(f"/api/v1/jobs/{job_id}").json()["counts"]["done"] == 0:
        assert time.monotonic() < deadline, "no item was done within a minute"
        time.sleep(0.02)
    stack.kill("search")
    try:
        assert not client.get(f"/api/v1/jobs/{job_id}").json()["finished"]  # the kill is mid-job
        time.sleep(2.0)  # the worker's rounds fail and back off meanwhile
    finally:
        stack.restart("search")
    status = follow_job(client, job_id, progress=False)
    distinct = len({hashlib.sha256(path.read_bytes()).digest() for path in images})
    counts = status["counts"]
    assert (counts["done"], counts["duplicate"], counts["failed"]) == (
        distinct, len(images) - distinct, 0), status
    assert indexed_count(stack) == before + distinct
    catalog = stack.services["catalog"].url
    listed = httpx.get(f"{catalog}/v1/images", params={"limit": 500},
                       headers=stack.service_headers()).json()["data"]
    assert listed and all(image["indexed_model"] for image in listed)
