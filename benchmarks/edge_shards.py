"""Qdrant Edge at scale through the search service's own `EdgeIndex`: loading, shard builds in a
child process, and whether any query waits on them.

    .venv/bin/python benchmarks/edge_shards.py --points 200000 [--shard-points 50000] [--json]

Vectors: real embeddings of ../shared/data images (the shipped model, no TTA) as bases, and
point i = normalize(base[i % B] + SIGMA * noise_i / sqrt(dim)), noise seeded by i, so a chunk can be
made again for the exact ground truth instead of holding every vector. A probe in the service's
own event loop queries every 100 ms from the first write to the last build and records how long
each waited (a build holding the GIL would show here as a wait of its whole length). Then query
p50/p95 by vector and by id, filtered, recall@10 against exact search, and the process's peak RSS.
"""
import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nauplius.core.preprocess import decode_image
from services.embedder.model import Embedder
from services.search.backends.base import PointRecord
from services.search.backends.edge import EdgeIndex
from services.search.config import SearchSettings

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
MODEL = REPO / "models" / "plankton-lite0-int8.onnx"
SIGMA = 0.5
BATCH = 500
COLLECTION = "bench"
LABELS = 20
QUERIES = 100
PROBE_S = 0.1


def real_bases(count: int) -> np.ndarray:
    files = sorted(p for name in ("zoolake", "ndsb") for p in (DATA / name).rglob("*")
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    random.Random(0).shuffle(files)
    embedder = Embedder(MODEL, threads=2, tta="none")
    images = [decode_image(f.read_bytes(), max_pixels=10**8) for f in files[:count]]
    return np.asarray(embedder.embed_images(images), dtype=np.float32)


def chunk(bases: np.ndarray, start: int, n: int) -> np.ndarray:
    ids = np.arange(start, start + n)
    noise = np.random.default_rng(start).standard_normal((n, bases.shape[1]), dtype=np.float32)
    x = bases[ids % len(bases)] + SIGMA * noise / np.sqrt(bases.shape[1])
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def payload(i: int) -> dict[str, str]:
    return {"label": f"taxon{i % LABELS}", "state": "validated" if i % 10 == 0 else "unlabelled",
            "instrument": "IFCB" if i % 3 else "PlanktoScope", "project": "1"}


def exact_top(bases: np.ndarray, points: int, queries: np.ndarray, k: int,
              label: int | None = None) -> list[list[int]]:
    best = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, points, BATCH):  # the chunks the points were made in
        n = min(BATCH, points - start)
        scores = queries @ chunk(bases, start, n).T
        if label is not None:
            scores[:, (np.arange(start, start + n) % LABELS) != label] = -np.inf
        merged = np.concatenate([best, scores], axis=1)
        ids = np.concatenate([best_ids, np.broadcast_to(np.arange(start, start + n), scores.shape)], axis=1)
        top = np.argsort(-merged, axis=1, kind="stable")[:, :k]
        best, best_ids = np.take_along_axis(merged, top, 1), np.take_along_axis(ids, top, 1)
    return best_ids.tolist()


class Probe:
    """Queries every PROBE_S in the index's own event loop; the longest any waited."""

    def __init__(self, index: EdgeIndex, vector: list[float]) -> None:
        self.index, self.vector = index, vector
        self.waits: list[float] = []
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        while True:
            started = time.perf_counter()
            with contextlib.suppress(Exception):  # no collection before the first write
                await self.index.query(COLLECTION, vector=self.vector, k=10)
            self.waits.append(time.perf_counter() - started)
            await asyncio.sleep(max(0.0, PROBE_S - (time.perf_counter() - started)))

    async def stop(self) -> dict[str, float]:
        self.task.cancel()
        waits = np.asarray(self.waits) * 1000
        return {"probes": len(waits), "longest_wait_ms": float(waits.max()),
                "probe_p99_ms": float(np.percentile(waits, 99))}


def timed(latencies: list[float]) -> dict[str, float]:
    ms = np.asarray(latencies) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))}


async def run(points: int, shard_points: int, bases_n: int, work: Path) -> dict:
    bases = real_bases(bases_n)
    dim = bases.shape[1]
    settings = SearchSettings()
    index = EdgeIndex.open(work, optimize_delay_s=settings.optimize_delay_s,
                           indexing_threshold_kb=settings.indexing_threshold_kb,
                           shard_points=shard_points, hamming_bits=settings.hamming_bits,
                           quantization=settings.quantization, oversampling=settings.oversampling,
                           on_disk=settings.on_disk)
    row: dict = {"points": points, "shard_points": shard_points, "dim": dim, "bases": len(bases),
                 "quantization": settings.quantization, "oversampling": settings.oversampling,
                 "on_disk": settings.on_disk,
                 "load_average_start": os.getloadavg()[0]}
    try:
        await index.ensure_collection(COLLECTION, dim)
        probe = Probe(index, chunk(bases, points + 1, 1)[0].tolist())
        started = time.perf_counter()
        for start in tqdm(range(0, points, BATCH), desc="upsert", unit="batch", file=sys.stderr):
            vectors = chunk(bases, start, min(BATCH, points - start))
            await index.upsert(COLLECTION, [PointRecord(start + i, v.tolist(), payload(start + i))
                                            for i, v in enumerate(vectors)])
        row["upsert_s"] = time.perf_counter() - started
        await index.wait_optimized()
        row["load_and_build_s"] = time.perf_counter() - started
        row.update(await probe.stop())
        row.update(await index.index_status(COLLECTION))

        rng = np.random.default_rng(1)
        queries = chunk(bases, points + 1000, QUERIES)  # new points near real ones
        truth = exact_top(bases, points, queries, 10)
        latencies, found = [], 0
        for q, true in zip(queries, truth, strict=True):
            t = time.perf_counter()
            hits = await index.query(COLLECTION, vector=q.tolist(), k=10)
            latencies.append(time.perf_counter() - t)
            found += len({h.id for h in hits} & set(true))
        row["query"] = timed(latencies)
        row["recall_at_10"] = found / (10 * QUERIES)
        latencies = []
        for i in rng.integers(0, points, QUERIES):
            t = time.perf_counter()
            await index.query(COLLECTION, point_id=int(i), k=10)
            latencies.append(time.perf_counter() - t)
        row["query_by_id"] = timed(latencies)
        label = 3
        truth = exact_top(bases, points, queries[:20], 10, label=label)
        latencies, found = [], 0
        for q, true in zip(queries[:20], truth, strict=True):
            t = time.perf_counter()
            hits = await index.query(COLLECTION, vector=q.tolist(), k=10,
                                     filter={"label": f"taxon{label}"})
            latencies.append(time.perf_counter() - t)
            found += len({h.id for h in hits} & set(true))
        row["filtered"] = timed(latencies)
        row["filtered_recall_at_10"] = found / (10 * 20)
    finally:
        await index.close()
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row["load_average_end"] = os.getloadavg()[0]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--shard-points", type=int, default=SearchSettings().shard_points)
    parser.add_argument("--bases", type=int, default=2000, help="real images embedded as bases")
    parser.add_argument("--dir", type=Path, help="where the shards go (default: a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edge-shards-", dir=args.dir) as work:
        row = asyncio.run(run(args.points, args.shard_points, args.bases, Path(work)))
    print(json.dumps(row, indent=2) if args.json else
          "\n".join(f"{key}: {value}" for key, value in row.items()))


if __name__ == "__main__":
    main()
