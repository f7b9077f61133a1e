"""Ingest rate and query latency through the gateway, with the four services as real processes.

Starts its own system (embedded PostgreSQL from pgserver, Qdrant Edge) in a temporary folder, ingests a
folder of images with `nauplius ingest`'s code, then times `similar` and `POST /api/v1/search` calls.

    .venv/bin/python benchmarks/system_throughput.py --data ../shared/data/zoolake [--limit 1000] [--json]
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from nauplius.ingest import ingest
from nauplius.private_system import private_system
from nauplius.training.datasets import find_images


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50_ms": statistics.median(ordered), "p95_ms": pick(0.95), "p99_ms": pick(0.99)}


def timed(call) -> float:
    started = time.perf_counter()
    response = call()
    response.raise_for_status()
    return 1000 * (time.perf_counter() - started)


def run(data: Path, limit: int | None, queries: int, seed: int) -> dict:
    images = find_images([data], label_from_folder=True)
    random.Random(seed).shuffle(images)
    images = images[:limit] if limit else images
    with private_system("nauplius-bench-") as system:
        (system.data_dir / "input").mkdir()
        for i, image in enumerate(images):  # symlinks keep <class>/<image> for --label-from-folder
            target = system.data_dir / "input" / image.taxon / f"{i}-{image.path.name}"
            target.parent.mkdir(exist_ok=True)
            target.symlink_to(image.path.resolve())
        started = time.perf_counter()
        report = ingest([system.data_dir / "input"], system.url, label_from_folder=True,
                        api_key=system.api_key)
        ingest_s = time.perf_counter() - started
        with system.client(timeout_s=60) as client:
            ids = [entry["id"] for entry in
                   client.get("/api/v1/images", params={"limit": 500}).json()["data"]]
            rng = random.Random(seed)
            similar = [timed(lambda: client.get(f"/api/v1/images/{rng.choice(ids)}/similar",
                                                params={"k": 10})) for _ in range(queries)]
            uploads = [rng.choice(images).path for _ in range(queries)]
            search = [timed(lambda p=p: client.post("/api/v1/search", params={"k": 10},
                                                    files={"file": (p.name, p.read_bytes())}))
                      for p in uploads]
    return {
        "images": len(images), "stored": report.stored, "refused": len(report.errors),
        "ingest_s": ingest_s, "ingest_images_per_s": report.stored / ingest_s,
        "similar": percentiles(similar), "search_upload": percentiles(search), "queries": queries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder of <class>/<image>")
    parser.add_argument("--limit", type=int, help="ingest at most this many images (random sample)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.data, args.limit, args.queries, args.seed)
    if args.json:
        print(json.dumps(result))
        return
    print(f"ingest: {result['stored']} images in {result['ingest_s']:.1f} s = "
          f"{result['ingest_images_per_s']:.1f} images/s ({result['refused']} refused)")
    for name in ("similar", "search_upload"):
        figures = result[name]
        print(f"{name:<14} p50 {figures['p50_ms']:.1f} ms  p95 {figures['p95_ms']:.1f} ms  "
              f"p99 {figures['p99_ms']:.1f} ms  ({result['queries']} queries)")


if __name__ == "__main__":
    main()
