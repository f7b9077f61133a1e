"""Ingest jobs from the command line over real processes: bins and broken files in one job, the
watch command across restarts (services killed mid-job: tests/worker/test_outages.py)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from nauplius.ingest import follow_job, ingest
from tests.support.stack import running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("nauplius-jobs"), "nauplius_jobs") as running:
        yield running


def test_bins_and_broken_files_in_one_job(stack, client, shared_data, tmp_path):
    for path in (shared_data / "ifcb" / "bins").glob("D20220522T000439_IFCB134.*"):
        (tmp_path / path.name).symlink_to(path)
    for path in (shared_data / "ifcb" / "bad" / "partial").iterdir():
        (tmp_path / path.name).symlink_to(path)
    good = sorted((shared_data / "zoolake" / "fish").iterdir())[0]
    (tmp_path / good.name).symlink_to(good)
    (tmp_path / "truncated.jpg").write_bytes(good.read_bytes()[:200])
    report = ingest([tmp_path], str(client.base_url), progress=False, api_key=stack.api_key)
    assert report.stored == 8  # 7 ROIs + the good image
    reasons = {path.name: reason for path, reason in report.errors}
    assert set(reasons) == {"IFCB5_2012_028_081515", "truncated.jpg"}
    assert "missing .roi" in reasons["IFCB5_2012_028_081515"]
    roi = httpx.get(f"{stack.services['catalog'].url}/v1/images", params={"limit": 50},
                    headers=stack.service_headers()).json()["data"]
    ifcb = [image for image in roi if image["instrument"] == "IFCB134"]
    assert len(ifcb) == 7 and all(image["sample"] == "D20220522T000439_IFCB134" for image in ifcb)
    assert {image["metadata"]["roi_number"] for image in ifcb} == {2, 3, 4, 5, 6, 7, 8}


def _watch(folder: Path, url: str, api_key: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nauplius.cli", "watch", str(folder),
                             "--poll-s", "0.3", "--url", url],
                            env={**os.environ, "NAUPLIUS_API_KEY": api_key},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0


def _job_ids(client) -> set[int]:
    return {job["id"] for job in client.get("/api/v1/jobs", params={"limit": 200}).json()["data"]}


def _wait_for(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_watch_command_ingests_complete_bins_once_across_restarts(stack, client, shared_data,
                                                                   tmp_path):
    stem = "D20220519T124533_IFCB134"
    catalog = stack.services["catalog"].url

    def bin_images() -> int:
        listed = httpx.get(f"{catalog}/v1/images", params={"limit": 500},
                           headers=stack.service_headers()).json()["data"]
        return sum(image["sample"] == stem for image in listed)

    jobs_before = _job_ids(client)
    watch = _watch(tmp_path, str(client.base_url), stack.api_key)
    try:
        for suffix in (".hdr", ".adc"):
            shutil.copy(shared_data / "ifcb" / "bins" / f"{stem}{suffix}", tmp_path)
        time.sleep(1.5)
        assert _job_ids(client) == jobs_before  # no .roi yet: nothing sent
        shutil.copy(shared_data / "ifcb" / "bins" / f"{stem}.roi", tmp_path)
        _wait_for(lambda: len(_job_ids(client) - jobs_before) == 1)
        [job_id] = _job_ids(client) - jobs_before
        status = follow_job(client, job_id, progress=False)
        assert status["counts"]["done"] > 0 and status["counts"]["failed"] == 0, status
        assert bin_images() == status["counts"]["done"]
    finally:
        _stop(watch)
    restarted = _watch(tmp_path, str(client.base_url), stack.api_key)
    try:
        newcomer = sorted((shared_data / "zoolake" / "fish").iterdir())[1]
        shutil.copy(newcomer, tmp_path)
        _wait_for(lambda: len(_job_ids(client) - jobs_before) == 2)
        [second] = _job_ids(client) - jobs_before - {job_id}
        # The restarted watch sent the new image only, not the bin again.
        assert follow_job(client, second, progress=False)["total"] == 1
    finally:
        _stop(restarted)


def test_a_shuffled_ingest_gives_ids_that_follow_no_class_folder(stack, client, shared_data,
                                                                 tmp_path):
    """The labelling bench ingests with a shuffle seed: in path order the ids would run folder
    by folder, and a page listed by id would hand the oracle its classes."""
    for name in ("daphnia", "fish", "ceratium"):
        (tmp_path / name).mkdir()
        for path in sorted((shared_data / "zoolake" / name).iterdir())[10:16]:
            (tmp_path / name / path.name).symlink_to(path)
    report = ingest([tmp_path], str(client.base_url), label_from_folder=True, progress=False,
                    api_key=stack.api_key, shuffle_seed=0)
    assert report.stored == 18 and not report.errors
    listed = client.get("/api/v1/images", params={"limit": 50}).json()["data"]
    labels = [image["label"] for image in sorted(listed, key=lambda i: i["id"])
              if image["label"] in ("daphnia", "fish", "ceratium")][-18:]
    assert len(labels) == 18
    changes = sum(a != b for a, b in zip(labels, labels[1:], strict=False))
    assert changes >= 8, labels  # path order: 2 to 4 (three worker loops interleave batches)
