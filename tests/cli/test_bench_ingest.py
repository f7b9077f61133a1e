"""`nauplius bench ingest` over a real private system: every image reaches the index, and the
report says where the time went."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from nauplius.bench_ingest import run
from nauplius.cli import main
from tests.support.database import create_database, drop_database

pytestmark = pytest.mark.e2e


def test_bench_ingest_indexes_every_image_and_reports_where_the_time_goes(shared_data):
    database_url = asyncio.run(create_database("nauplius_bench_ingest"))
    try:
        result = run(shared_data / "ndsb", limit=20, env={"WORKER_BATCH_SIZE": "8"},
                     progress=False, database_url=database_url)
    finally:
        asyncio.run(drop_database(database_url))
    assert (result["images"], result["stored"], result["indexed"], result["failed"]) == (20, 20, 20, 0)
    assert result["images_per_s"] == pytest.approx(20 / result["seconds"], rel=0.05)
    assert result["seconds"] >= result["index_s"] > 0
    assert set(result["service_seconds"]) == {"embedder", "catalog", "search"}
    assert all(seconds > 0 for seconds in result["service_seconds"].values())
    assert set(result["cpu_seconds"]) == {"gateway", "catalog", "worker", "embedder", "search"}
    assert result["cpu_seconds"]["embedder"] > 0
    per_image = result["cpu_ms_per_image"]
    assert set(per_image) == {*result["cpu_seconds"], "total"}
    assert per_image["total"] == pytest.approx(1000 * result["cpu_seconds_total"] / 20, abs=2.5)
    # a given database is not the private system's own: its CPU is not counted
    assert result["cpu_seconds_postgres"] == 0 and result["cpu_seconds_sender"] > 0
    assert result["cores_busy"] > 0
    assert len(result["load_average"]) == 3 and result["settings"] == {"WORKER_BATCH_SIZE": "8"}


def test_bench_ingest_refuses_bad_arguments_before_starting_anything(tmp_path, capsys):
    assert main(["bench", "ingest", "--data", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["bench", "ingest", "--data", str(tmp_path), "--set", "EMBEDDER_THREADS"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["bench", "ingest", "--data", str(tmp_path)]) == 2
    assert "no images" in capsys.readouterr().err


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _commands_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        return "Z" not in (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0])
    except OSError:
        return False


@pytest.fixture
def short_tmp():
    """pytest's tmp_path is too long for PostgreSQL's unix socket path (107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="nb-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_sigterm_stops_the_private_system_with_the_bench(shared_data, short_tmp):
    """A process manager's SIGTERM: the five services and the embedded PostgreSQL go with it."""
    tmp_path = short_tmp
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    bench = subprocess.Popen([sys.executable, "-m", "nauplius.cli", "bench", "ingest", "--data",
                              str(shared_data / "ndsb"), "--limit", "2000"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and bench.poll() is None:
            (folder,) = list(tmp_path.glob("nauplius-bench-ingest-*")) or [None]
            postgres = _commands_mentioning(str(folder)) if folder else []
            services = _children(bench.pid)
            if postgres and len(services) >= 5:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the private system did not start:\n{bench.stderr.read()}")
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=60) == 130
    finally:
        if bench.poll() is None:
            bench.kill()
    assert "interrupted" in bench.stderr.read()
    left = [pid for pid in services + postgres if _alive(pid)]
    assert not left, f"still running after the bench stopped: {left}"
    assert not folder.exists()
