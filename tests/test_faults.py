"""Faults: during one ingest job of 2,000 distinct real images, kill -9 each service in turn and
the system's own PostgreSQL, and restart each. Afterwards every image is stored and indexed
exactly once or reported failed with its reason, and `nauplius reconcile` finds nothing to mend.

The system is a private one (nauplius.private_system): its own PostgreSQL (pgserver) in a
temporary folder, so killing that cluster cannot touch the databases other tests use on the
shared server. `NAUPLIUS_FAULTS_IMAGES` makes the job smaller (2,000 by default, what CI runs).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest

from nauplius.cli import main
from nauplius.core.contracts.gateway import gateway_headers
from nauplius.formats.discover import read_paths
from nauplius.ingest import send_job
from nauplius.private_system import PrivateSystem, private_system
from nauplius.reconcile import KINDS

pytestmark = pytest.mark.e2e

IMAGES = int(os.environ.get("NAUPLIUS_FAULTS_IMAGES", "2000"))
# In turn, each once the job has settled another share of its items, so every kill lands mid-job.
FAULTS = ("embedder", "search", "catalog", "gateway", "worker", "postgres")
DOWN_S = 1.5  # how long a killed process stays down before its restart
# While a service is down the gateway answers these (or cannot be reached at all): retried.
WHILE_DOWN = {502, 503, 504}
FINISH_TIMEOUT_S = 900.0
# A worker killed mid-batch leaves its items running until their lease ends: short here, so the
# test does not wait out the default 120 s. Batches of 32 keep a lease far above a batch's time.
SETTINGS = {"WORKER_LEASE_S": "20", "WORKER_BATCH_SIZE": "32"}


def distinct_images(folder: Path, count: int) -> list[Path]:
    """The first `count` images of the folder (in path order) with contents all different."""
    chosen: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.jpg")):
        chosen.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), path)
        if len(chosen) == count:
            return list(chosen.values())
    raise AssertionError(f"{folder} holds fewer than {count} distinct images")


class JobPoller(threading.Thread):
    """Polls the job through the gateway the whole time, as `nauplius ingest` does: 502, 503,
    504 and a gateway that cannot be reached are retried; any other answer is kept to fail on."""

    def __init__(self, url: str, api_key: str, job_id: int) -> None:
        super().__init__(daemon=True)
        self.http = httpx.Client(base_url=url, timeout=30.0,
                                 headers=gateway_headers(api_key))
        self.job_id = job_id
        self.status: dict | None = None
        self.retried: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                answer = self.http.get(f"/api/v1/jobs/{self.job_id}")
            except httpx.TransportError as error:
                self.retried[type(error).__name__] += 1
            else:
                if answer.status_code == 200:
                    self.status = answer.json()
                elif answer.status_code in WHILE_DOWN:
                    self.retried[str(answer.status_code)] += 1
                else:
                    self.unexpected.append(f"{answer.status_code}: {answer.text[:300]}")
            if self.status is not None and self.status["finished"]:
                return
            self.stop.wait(0.2)

    def settled(self) -> int:
        counts = (self.status or {}).get("counts", {})
        return sum(counts.get(outcome, 0) for outcome in ("done", "duplicate", "failed"))

    def wait_for(self, settled: int, timeout_s: float = 300.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.settled() < settled and not self.finished():
            assert not self.unexpected, self.unexpected
            assert time.monotonic() < deadline, f"{self.settled()} items settled, waited for {settled}"
            time.sleep(0.1)

    def finished(self) -> bool:
        return self.status is not None and self.status["finished"]


def kill_postgres(system: PrivateSystem) -> None:
    """SIGKILL the cluster's postmaster and every backend: a crash, as the OOM killer does it."""
    import pgserver

    server = pgserver.get_server(system.data_dir / "postgres")  # the running one, not a new one
    postmaster = psutil.Process(server.get_pid())
    processes = [postmaster, *postmaster.children(recursive=True)]
    for process in processes:
        process.kill()
    psutil.wait_procs(processes, timeout=30)


def restart_postgres(system: PrivateSystem) -> None:
    """Start the cluster again on the same data (PostgreSQL recovers from its WAL) and socket."""
    import pgserver

    server = pgserver.get_server(system.data_dir / "postgres")
    url = server.get_uri()
    for _ in range(6):
        try:
            with server._lock:  # pgserver's own inter-process lock around starting a server
                server.ensure_postgres_running()
            break
        except subprocess.TimeoutExpired:  # pgserver gives pg_ctl 10 s; recovery may need more
            time.sleep(2.0)
    assert server.get_uri() == url, "the restarted PostgreSQL must listen where the catalog looks"


def kill_and_restart(system: PrivateSystem, name: str) -> None:
    if name == "postgres":
        kill_postgres(system)
        time.sleep(DOWN_S)
        restart_postgres(system)
    else:
        system.stack.kill(name)
        time.sleep(DOWN_S)
        system.stack.restart(name)


def all_images(client: httpx.Client) -> list[dict]:
    images: list[dict] = []
    while True:
        page = client.get("/api/v1/images", params={"limit": 500, "offset": len(images)})
        assert page.status_code == 200, page.text
        images += page.json()["data"]
        if not page.json()["data"] or len(images) >= page.json()["count"]:
            return images


def reconcile_report(system: PrivateSystem, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["reconcile", "--json", "--url", system.url, "--api-key", system.api_key])
    return code, json.loads(capsys.readouterr().out)


def test_kill_9_each_service_and_postgres_mid_job_stores_and_indexes_every_image_once(
        shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = distinct_images(shared_data / "ndsb", IMAGES)
    sent = {hashlib.sha256(path.read_bytes()).hexdigest() for path in images}
    with private_system("nauplius-faults-", env=SETTINGS) as system:
        with system.client(timeout_s=300.0) as client:
            job_id = send_job(client, read_paths(images))
        poller = JobPoller(system.url, system.api_key, job_id)
        poller.start()
        try:
            for turn, name in enumerate(FAULTS, start=1):
                poller.wait_for(IMAGES * turn // (len(FAULTS) + 2))
                assert not poller.finished(), f"the job finished before {name} was killed"
                kill_and_restart(system, name)
            poller.join(FINISH_TIMEOUT_S)
            assert not poller.unexpected, poller.unexpected
            assert poller.finished(), f"job still open {FINISH_TIMEOUT_S:.0f} s on: {poller.status}"
            # The client did see the outages (the catalog's and PostgreSQL's as 502, the
            # gateway's as a refused connection) and rode them out.
            seen = set(poller.retried)
            assert seen & {str(status) for status in WHILE_DOWN} and seen - {"502", "503", "504"}, \
                poller.retried
        finally:
            poller.stop.set()
            poller.http.close()
        status = poller.status
        assert status is not None
        counts = status["counts"]
        failed = {error["source"]: error["error"] for error in status["errors"]}
        assert all(failed.values()), f"a failed item without its reason: {failed}"
        assert (counts["done"], counts["duplicate"], counts["failed"]) == (
            IMAGES - len(failed), 0, len(failed)), status
        failed_sha = {hashlib.sha256(Path(source).read_bytes()).hexdigest() for source in failed}

        with system.client() as client:
            stored = all_images(client)
        shas = [image["sha256"] for image in stored]
        assert len(shas) == len(set(shas)), "an image stored twice"
        assert set(shas) == sent - failed_sha
        assert all(image["indexed_model"] for image in stored), "a stored image not indexed"

        code, report = reconcile_report(system, capsys)
        assert (code, {kind: report[kind] for kind in KINDS}) == (0, dict.fromkeys(KINDS, 0)), report
        assert report["catalog_images"] == report["index_points"] == len(stored)
