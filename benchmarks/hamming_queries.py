"""Hamming queries against cosine, side by side, through the search service's own `EdgeIndex`.

    .venv/bin/python benchmarks/hamming_queries.py --sizes 5000,20000,100000 [--json]

Vectors: real plankton-lite0 embeddings of `--real` NDSB images (the shipped model, its TTA), then,
up to each size, seeded noise around randomly picked real ones (Gaussian, `--noise` of the norm,
renormalised). Queries: `--queries` fresh noisy copies of real embeddings, not stored. For each size
two collections are filled the same way, one with binary codes (what the service creates now) and
one without (as before them), to time the upsert cost of the codes. Then, on the one with codes:
cosine (Edge's exact scan: no HNSW is built here), hamming, and hamming + re-rank, each p50 over
the queries and recall@10 against exact cosine computed in numpy.
"""

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nauplius.core.preprocess import decode_image
from nauplius.training.datasets import labelled_images
from services.embedder.model import Embedder
from services.search.backends.base import HAMMING_BITS, PointRecord
from services.search.backends.edge import EdgeIndex

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "plankton-lite0.onnx"
COLLECTION = "bench"
BATCH = 500
MAX_PIXELS = 100_000_000


def real_embeddings(data: Path, count: int, seed: int) -> np.ndarray:
    images = labelled_images(data)
    picked = random.Random(seed).sample(images, min(count, len(images)))
    embedder = Embedder(MODEL, threads=2, batch_size=32)
    vectors = [embedder.embed_images([decode_image(image.path.read_bytes(), MAX_PIXELS)
                                      for image in picked[start:start + 64]])
               for start in range(0, len(picked), 64)]
    return np.concatenate(vectors)


def noisy(real: np.ndarray, n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    around = real[rng.integers(0, len(real), n)]
    moved = around + rng.normal(0.0, noise / np.sqrt(real.shape[1]), around.shape).astype(np.float32)
    return (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(np.float32)


async def fill(index: EdgeIndex, vectors: np.ndarray) -> float:
    """Upsert rate, vectors/s."""
    await index.ensure_collection(COLLECTION, vectors.shape[1])
    started = time.perf_counter()
    for start in range(0, len(vectors), BATCH):
        await index.upsert(COLLECTION, [PointRecord(start + i, v.tolist(), {"label": f"t{(start + i) % 10}"})
                                        for i, v in enumerate(vectors[start:start + BATCH])])
    return len(vectors) / (time.perf_counter() - started)


async def measure(index: EdgeIndex, queries: np.ndarray, truth: list[set[int]], **how) -> dict:
    latencies, recalls = [], []
    for query, exact in zip(queries, truth, strict=True):
        started = time.perf_counter()
        hits = await index.query(COLLECTION, vector=query.tolist(), k=10, **how)
        latencies.append(time.perf_counter() - started)
        recalls.append(len({h.id for h in hits} & exact) / 10)
    return {"p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
            "recall_at_10": round(float(np.mean(recalls)), 3)}


async def one_size(real: np.ndarray, n: int, args: argparse.Namespace, work: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    vectors = np.concatenate([real[:n], noisy(real, max(0, n - len(real)), args.noise, rng)])
    queries = noisy(real, args.queries, args.noise, np.random.default_rng(args.seed + 1))
    truth = [set(np.argsort(-(vectors @ q), kind="stable")[:10].tolist()) for q in queries]
    result: dict = {"vectors": n}
    for bits, name in ((0, "without_codes"), (HAMMING_BITS, "with_codes")):
        index = EdgeIndex.open(work / f"{n}-{name}", optimize_delay_s=1e9, hamming_bits=bits)
        try:
            result[f"upsert_per_s_{name}"] = round(await fill(index, vectors))
            if bits:
                result["cosine"] = await measure(index, queries, truth)
                result["hamming"] = await measure(index, queries, truth, metric="hamming")
                result[f"hamming_rerank_{args.rerank}"] = await measure(
                    index, queries, truth, metric="hamming", rerank=args.rerank)
        finally:
            await index.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "ndsb")
    parser.add_argument("--real", type=int, default=1000, help="real images embedded")
    parser.add_argument("--sizes", default="5000,20000,100000")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--rerank", type=int, default=100)
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    real = real_embeddings(args.data, args.real, args.seed)
    print(f"embedded {len(real)} real images in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(asyncio.run(one_size(real, n, args, Path(work))))
            print(json.dumps(rows[-1]), file=sys.stderr)
    report = {"bits": HAMMING_BITS, "real": len(real), "noise": args.noise, "queries": args.queries,
              "rows": rows, "load_average": [round(x, 2) for x in os.getloadavg()]}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"| vectors | upsert/s without codes | with codes | cosine p50 ms | recall@10 | "
          f"hamming p50 | recall@10 | + re-rank {args.rerank} p50 | recall@10 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        rr = row[f"hamming_rerank_{args.rerank}"]
        print(f"| {row['vectors']:,} | {row['upsert_per_s_without_codes']:,} | "
              f"{row['upsert_per_s_with_codes']:,} | {row['cosine']['p50_ms']} | "
              f"{row['cosine']['recall_at_10']} | {row['hamming']['p50_ms']} | "
              f"{row['hamming']['recall_at_10']} | {rr['p50_ms']} | {rr['recall_at_10']} |")
    print(f"load average {report['load_average']}")


if __name__ == "__main__":
    main()
