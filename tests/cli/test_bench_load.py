"""`nauplius bench load` over a real private system, run tiny: every route of the mix answered,
no error, every write found again at the end."""
from __future__ import annotations

import asyncio
import json
import random

import httpx
import pytest

from nauplius.bench_load import LoadClient, Recorder, Traffic, check_writes
from nauplius.cli import main
from nauplius.ingest import ingest
from nauplius.private_system import private_system
from tests.support.database import create_database, drop_database

pytestmark = pytest.mark.e2e

ROUTES = {"browse", "thumbnail", "similar", "search", "label", "labels_batch", "ingest_job"}


def test_bench_load_tiny_run_has_no_error_and_finds_every_write(shared_data, monkeypatch, capsys):
    database_url = asyncio.run(create_database("nauplius_bench_load"))
    monkeypatch.setenv("CATALOG_DATABASE_URL", database_url)
    try:
        code = main(["bench", "load", "--clients", "3", "--minutes", "0.05", "--seed-images", "60",
                     "--data", str(shared_data / "ndsb"), "--json"])
    finally:
        asyncio.run(drop_database(database_url))
    result = json.loads(capsys.readouterr().out)
    assert {"routes", "errors", "requests_per_s", "writes_checked", "writes_missing", "clients",
            "minutes", "load_average"} <= set(result)
    assert (result["errors"], result["writes_missing"]) == (0, 0), result
    assert code == 0
    assert (result["clients"], result["minutes"]) == (3, 0.05)
    assert set(result["routes"]) <= ROUTES and result["routes"]
    for route in result["routes"].values():
        assert set(route) == {"count", "errors", "p50_ms", "p95_ms", "p99_ms"}
        assert route["count"] > 0 and route["p50_ms"] <= route["p95_ms"] <= route["p99_ms"]
    assert result["requests_per_s"] > 0 and len(result["load_average"]) == 3
    # At least the reconcile and the count check; more when labels or ingest jobs were drawn.
    assert result["writes_checked"] >= 1 + 3
    assert result["catalog_images"] == result["index_points"] >= 60


def test_bench_load_refuses_bad_arguments_before_starting_anything(tmp_path, capsys):
    assert main(["bench", "load", "--clients", "0"]) == 2
    assert "must be positive" in capsys.readouterr().err
    assert main(["bench", "load", "--data", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["bench", "load", "--data", str(tmp_path), "--minutes", "0.01"]) == 2
    assert "holds 0 images" in capsys.readouterr().err


def test_the_write_check_finds_a_label_and_an_image_that_are_not_there(shared_data):
    """What the check would find if the system lost a write: a client's 2xx label that the image
    does not carry, and an ingest job's image that is not stored."""
    images = sorted((shared_data / "ndsb" / "amphipods").glob("*.jpg"))[:3]
    database_url = asyncio.run(create_database("nauplius_bench_load_check"))
    try:
        with private_system("nauplius-bench-load-check-", database_url=database_url) as system, \
                system.client() as api:
            ingest(images, system.url, label_from_folder=True, progress=False,
                   api_key=system.api_key)
            image_id = api.get("/api/v1/images").json()["data"][0]["id"]
            traffic = Traffic([image_id], ["amphipods"], [], iter([]), jobs={1: ["0" * 64]})
            client = LoadClient(httpx.AsyncClient(), [image_id], traffic, Recorder(),
                                random.Random(0), written={image_id: ("amphipods", "dubious")})
            check, report = check_writes(api, [client], traffic.jobs, complete={1})
    finally:
        asyncio.run(drop_database(database_url))
    assert len(check.missing) == 2, check.missing
    assert f"image {image_id}: labelled 'amphipods' dubious" in check.missing[0]
    assert "not stored" in check.missing[1]
    assert report["catalog_images"] == report["index_points"] == 3
