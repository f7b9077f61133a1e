"""Search latency of the two backends on random unit vectors.

    .venv/bin/python benchmarks/search_latency.py            # 100,000 x 1280, table
    .venv/bin/python benchmarks/search_latency.py --json     # the same as JSON

Edge: upsert, then optimize() (HNSW build), then queries through `EdgeIndex.query`.
qdrant-client local ":memory:" mode stands in for the server adapter (no Qdrant server can run
here); it is exact numpy search, so it is also the recall reference. Random vectors are the worst
case for HNSW recall (no cluster structure); recall@10 of Edge is measured against exact search.
"""

import argparse
import asyncio
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qdrant_client import AsyncQdrantClient

from services.search.backends.base import PointRecord, VectorIndex
from services.search.backends.edge import EdgeIndex
from services.search.backends.qdrant_server import QdrantServerIndex
from services.search.config import SearchSettings

N_LABELS = 10
EDGE_INDEXING_THRESHOLD_KB = SearchSettings().indexing_threshold_kb  # what the service uses
COLLECTION = "bench"


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def label(i: int) -> str:
    return f"taxon{i % N_LABELS}"


async def insert(index: VectorIndex, vectors: np.ndarray, batch: int, desc: str) -> float:
    started = time.perf_counter()
    for start in tqdm(range(0, len(vectors), batch), desc=desc, unit="batch", file=sys.stderr):
        chunk = vectors[start:start + batch]
        await index.upsert(COLLECTION, [
            PointRecord(start + i, v.tolist(), {"label": label(start + i)}) for i, v in enumerate(chunk)
        ])
    return time.perf_counter() - started


def percentiles(latencies: list[float]) -> dict[str, float]:
    ms = np.asarray(latencies) * 1000
    return {f"p{p}": float(np.percentile(ms, p)) for p in (50, 95, 99)}


async def measure(index: VectorIndex, queries: np.ndarray, k: int, filtered: bool):
    latencies, results = [], []
    for i, q in enumerate(queries):
        flt = {"label": label(i)} if filtered else None
        started = time.perf_counter()
        hits = await index.query(COLLECTION, vector=q.tolist(), k=k, filter=flt)
        latencies.append(time.perf_counter() - started)
        results.append([h.id for h in hits])
    return percentiles(latencies), results


def exact_ids(vectors: np.ndarray, queries: np.ndarray, k: int, filtered: bool) -> list[list[int]]:
    out = []
    labels = np.arange(len(vectors)) % N_LABELS
    for i, q in enumerate(queries):
        scores = vectors @ q
        if filtered:
            scores = np.where(labels == i % N_LABELS, scores, -np.inf)
        out.append(np.argsort(-scores)[:k].tolist())
    return out


def recall(found: list[list[int]], truth: list[list[int]]) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


async def bench_backend(name, index, vectors, queries, args, truth, rows):
    if name == "qdrant-local":
        queries = queries[:args.local_queries]
        truth = {key: ids[:args.local_queries] for key, ids in truth.items()}
    await index.ensure_collection(COLLECTION, vectors.shape[1])
    row = {"backend": name, "n": len(vectors), "dim": vectors.shape[1], "queries": len(queries)}
    row["upsert_s"] = await insert(index, vectors, args.batch, f"{name} upsert")
    if isinstance(index, EdgeIndex):
        started = time.perf_counter()
        await index.optimize(COLLECTION)
        row["optimize_s"] = time.perf_counter() - started
        row["indexed"] = (await index.index_status(COLLECTION))["indexed"]
    for filtered in (False, True):
        lat, found = await measure(index, queries, args.k, filtered)
        key = "filtered" if filtered else "unfiltered"
        rows.append({**row, "query": key, **lat, f"recall@{args.k}": recall(found, truth[key])})
    await index.close()


def table(rows: list[dict], k: int) -> str:
    head = f"| backend | query | queries | upsert s | optimize s | p50 ms | p95 ms | p99 ms | recall@{k} |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        opt = f"{r['optimize_s']:.1f}" if "optimize_s" in r else "-"
        lines.append(
            f"| {r['backend']} | {r['query']} | {r['queries']} | {r['upsert_s']:.1f} | {opt} | "
            f"{r['p50']:.2f} | "
            f"{r['p95']:.2f} | {r['p99']:.2f} | {r[f'recall@{k}']:.3f} |"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--local-queries", type=int, default=20,
                        help="queries for qdrant-local (exact numpy search: slow at 100k)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--backends", default="edge,qdrant-local",
                        help="comma list of edge, edge-binary, edge-exact, qdrant-local")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    vectors = unit_vectors(args.n, args.dim, seed=0)
    queries = unit_vectors(args.queries, args.dim, seed=1)
    truth = {key: exact_ids(vectors, queries, args.k, key == "filtered")
             for key in ("unfiltered", "filtered")}
    rows: list[dict] = []
    for name in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            if name.startswith("edge"):
                quantization = "binary" if name == "edge-binary" else "none"
                # edge-exact: a threshold no segment reaches, so optimize() builds no HNSW index.
                threshold = 2**31 - 1 if name == "edge-exact" else EDGE_INDEXING_THRESHOLD_KB
                index: VectorIndex = EdgeIndex.open(
                    Path(tmp), optimize_delay_s=1e9, quantization=quantization,
                    indexing_threshold_kb=threshold)
            else:
                warnings.filterwarnings("ignore", category=UserWarning, module="qdrant_client")
                index = QdrantServerIndex(client=AsyncQdrantClient(location=":memory:"))
            await bench_backend(name, index, vectors, queries, args, truth, rows)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"n={args.n} dim={args.dim} queries={args.queries} k={args.k} "
              f"(filtered: label = 1 of {N_LABELS} values)")
        print(table(rows, args.k))


if __name__ == "__main__":
    asyncio.run(main())
