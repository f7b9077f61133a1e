"""CPU per image of the embedder's whole embed call (decode + prepare + ONNX with the card's TTA)
for onnxruntime thread counts x batch sizes, with one call at a time and with two at once (the
embedder runs EMBEDDER_MAX_CONCURRENCY calls at once, as the worker's loops send them), and a
check that every setting gives the very same vectors.

    .venv/bin/python benchmarks/embedder_threads.py [--data ../shared/data/ndsb] [--images 512] \\
        [--threads 1 2] [--batch 8 16 32] [--rounds 3]

CPU ms/image is the process's CPU time (every thread) over the images: on a shared machine far
steadier than the wall time, which is printed beside it with the load average. Each setting is
measured `--rounds` times, interleaved, and its lowest figure kept (the least disturbed).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from nauplius.core.preprocess import decode_image, prepare
from nauplius.training.datasets import find_images
from services.embedder.config import DEFAULT_MODEL
from services.embedder.model import Embedder

REPO = Path(__file__).resolve().parents[1]


def embed_call(embedder: Embedder, payloads: list[bytes]) -> np.ndarray:
    """What one /v1/embed call computes (services.embedder.routes._embed_all, less HTTP)."""
    return embedder.embed_prepared(
        np.stack([prepare(decode_image(data, 50_000_000), embedder.card) for data in payloads]))


def measure(embedder: Embedder, calls: list[list[bytes]], at_once: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of embedding every call, `at_once` calls in flight."""
    cpu, wall = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(at_once) as pool:
        list(pool.map(lambda call: embed_call(embedder, call), calls))
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ndsb")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--call", type=int, default=64, help="images per embed call (the "
                        "worker's batch)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    paths = sorted(image.path for image in find_images([args.data]))
    payloads = [path.read_bytes()
                for path in random.Random(args.seed).sample(paths, min(args.images, len(paths)))]
    calls = [payloads[i:i + args.call] for i in range(0, len(payloads), args.call)]
    settings = [(threads, batch) for threads in args.threads for batch in args.batch]
    embedders = {setting: Embedder(args.model, threads=setting[0], batch_size=setting[1])
                 for setting in settings}
    reference = embed_call(embedders[settings[0]], payloads[:args.call])
    best: dict[tuple[int, int, int], tuple[float, float]] = {}
    for _ in range(args.rounds):
        for setting, embedder in embedders.items():
            same = np.array_equal(embed_call(embedder, payloads[:args.call]), reference)  # warm-up
            assert same, f"threads {setting[0]}, batch {setting[1]}: other vectors"
            for at_once in (1, 2):
                cpu, wall = measure(embedder, calls, at_once)
                key = (*setting, at_once)
                if key not in best or cpu < best[key][0]:
                    best[key] = (cpu, wall)
    n = len(payloads)
    tta = embedders[settings[0]].tta
    print(f"{n} images of {args.data.name}, {args.call} per call, TTA {tta}, load average "
          f"{os.getloadavg()[0]:.2f}; the same vectors in every setting")
    print("| threads | batch | calls at once | CPU ms/image | wall ms/image |")
    print("|---:|---:|---:|---:|---:|")
    rows = []
    for (threads, batch, at_once), (cpu, wall) in sorted(best.items()):
        rows.append({"threads": threads, "batch": batch, "calls_at_once": at_once,
                     "cpu_ms_per_image": round(1000 * cpu / n, 2),
                     "wall_ms_per_image": round(1000 * wall / n, 2)})
        print(f"| {threads} | {batch} | {at_once} | {1000 * cpu / n:.2f} | {1000 * wall / n:.2f} |")
    print(json.dumps({"images": n, "load_average": os.getloadavg(), "rows": rows}))


if __name__ == "__main__":
    main()
