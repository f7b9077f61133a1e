"""`nauplius bench ingest` over a real private system: every image reaches the index, and the
report says where the time went."""
from __future__ import annotations

import asyncio

import pytest

from nauplius.bench_ingest import run
from nauplius.cli import main
from tests.conftest import create_database, drop_database

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
    assert len(result["load_average"]) == 3 and result["settings"] == {"WORKER_BATCH_SIZE": "8"}


def test_bench_ingest_refuses_bad_arguments_before_starting_anything(tmp_path, capsys):
    assert main(["bench", "ingest", "--data", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["bench", "ingest", "--data", str(tmp_path), "--set", "EMBEDDER_THREADS"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["bench", "ingest", "--data", str(tmp_path)]) == 2
    assert "no images" in capsys.readouterr().err
