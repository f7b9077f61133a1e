"""`nauplius bench scale` run small over a real private system: every figure of the contract is
there and sane; and the synthetic vectors it fills the index with: made again alike by index,
each nearest its own real embedding, their exact neighbours those of a brute-force search."""
from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from nauplius.cli import main
from nauplius.scale_vectors import (
    SyntheticVectors,
    exact_neighbours,
    nearest_base_is_own,
    noise_sigma,
)
from tests.support.database import create_database, drop_database

CONTRACT = {"query_by_image_p50_ms", "query_by_image_p95_ms", "query_by_id_p50_ms",
            "filtered_query_p50_ms", "recall_at_10", "page_p50_ms", "longest_stall_ms",
            "search_rss_mb", "restart_s", "export_rows_per_s", "export_gateway_peak_rss_mb",
            "suggest_images_per_s", "images", "real_ingest_s", "synthetic_load_s",
            "index_wait_s", "load_average_start", "load_average_end", "hamming"}


def _base(rows: int, dim: int, seed: int = 1) -> np.ndarray:
    base = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return base / np.linalg.norm(base, axis=1, keepdims=True)


def test_synthetic_vectors_are_made_again_alike_by_index_and_in_chunks():
    base = _base(7, 32)
    vectors = SyntheticVectors(base, 40, 0.05, seed=3)
    whole = np.concatenate([chunk for _, chunk in vectors.chunks(size=6)])
    assert whole.shape == (40, 32)
    assert np.array_equal(whole[:7], base)
    assert np.array_equal(whole[23], vectors.vector(23))
    assert np.allclose(np.linalg.norm(whole, axis=1), 1.0, atol=1e-5)
    assert not np.array_equal(vectors.vector(23), SyntheticVectors(base, 40, 0.05, 4).vector(23))
    assert [first for first, _ in vectors.chunks(start=7, size=10)] == [7, 17, 27, 37]


def test_the_noise_keeps_each_synthetic_vector_nearest_its_own_base():
    base = _base(50, 64)
    sigma, d_min = noise_sigma(base)
    gram = base @ base.T
    np.fill_diagonal(gram, -1)
    assert d_min == pytest.approx(np.sqrt(2 - 2 * gram.max()), rel=1e-4)
    vectors = SyntheticVectors(base, 5000, sigma)
    assert nearest_base_is_own(vectors, list(range(50, 5000))) == 1.0
    # Ten times the noise: some land nearer another base (the check can fail).
    assert nearest_base_is_own(SyntheticVectors(base, 5000, 10 * sigma), list(range(50, 5000))) < 1


def test_exact_neighbours_are_the_brute_force_ones_without_the_query_itself():
    vectors = SyntheticVectors(_base(9, 16), 300, 0.1, seed=5)
    queries = [0, 4, 150, 299]
    found = exact_neighbours(vectors, queries, 10)
    every = np.concatenate([chunk for _, chunk in vectors.chunks()])
    for query, neighbours in zip(queries, found, strict=True):
        scores = every @ every[query]
        scores[query] = -np.inf
        assert list(neighbours) == list(np.argsort(-scores, kind="stable")[:10])


@pytest.mark.e2e
def test_bench_scale_small_run_reports_every_figure(shared_data, monkeypatch, capsys):
    database_url = asyncio.run(create_database("nauplius_bench_scale"))
    monkeypatch.setenv("CATALOG_DATABASE_URL", database_url)
    try:
        code = main(["bench", "scale", "--images", "3000", "--real", "300", "--queries", "10",
                     "--data", str(shared_data), "--json"])
    finally:
        asyncio.run(drop_database(database_url))
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= CONTRACT
    assert result["images"] == result["catalog_images"] == 3000
    assert (result["real_images"], result["synthetic_images"]) == (300, 2700)
    assert 0 <= result["recall_at_10"] <= 1 and 0 <= result["hamming"]["recall_at_10"] <= 1
    # Exact search at this size: the served neighbours are the exact ones.
    assert result["recall_at_10"] >= 0.99
    assert result["nearest_base_is_own"] == 1.0
    assert result["longest_stall_ms"] >= 0 and result["probe_queries"] > 0
    assert result["probe_errors"] == []
    for key in ("query_by_image_p50_ms", "query_by_id_p50_ms", "filtered_query_p50_ms",
                "page_p50_ms", "search_rss_mb", "restart_s", "export_rows_per_s",
                "export_gateway_peak_rss_mb", "suggest_images_per_s"):
        assert result[key] > 0, key
    assert result["query_by_image_p50_ms"] <= result["query_by_image_p95_ms"]
    assert set(result["filtered_search_service_p50_ms"]) == {"state", "instrument", "project"}
    # ~10% of the synthetic rows validated, plus the 300 real images validated by their folders.
    assert 300 + 2700 * 0.05 < result["export_rows"] < 300 + 2700 * 0.15
    assert len(result["load_average_start"]) == len(result["load_average_end"]) == 3


def test_bench_scale_refuses_bad_arguments_before_starting_anything(tmp_path, capsys):
    assert main(["bench", "scale", "--images", "10", "--real", "20"]) == 2
    assert "--images at least --real" in capsys.readouterr().err
    assert main(["bench", "scale", "--images", "100", "--real", "50", "--data", str(tmp_path)]) == 2
    assert "zoolake" in capsys.readouterr().err
