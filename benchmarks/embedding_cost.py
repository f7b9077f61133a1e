"""Embedding cost per image of one or more models, as the embedder computes it: decode +
preprocess + ONNX at batch 32, on real plankton images, after a warm-up batch.

    .venv/bin/python benchmarks/embedding_cost.py --models models/plankton-lite0.onnx \\
        models/efficientnet-lite0-imagenet.onnx [--data ../shared/data/ndsb] [--images 512] \\
        [--threads 0] [--tta none hflip flips d4]

Prints one row per model and TTA: ms/image for the whole embed call and for inference alone, the
CPU ms/image of the whole call (every thread), and the load average, because on a shared machine
the wall figures are only as good as the idle cores they had.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

from nauplius.core.preprocess import decode_image, prepare
from nauplius.training.datasets import find_images
from services.embedder.model import Embedder

REPO = Path(__file__).resolve().parents[1]

BATCH = 32


def measure(model: Path, payloads: list[bytes], threads: int, tta: str | None) -> dict:
    embedder = Embedder(model, threads=threads, batch_size=BATCH, tta=tta)
    batches = [payloads[i:i + BATCH] for i in range(0, len(payloads), BATCH)]

    def decode_and_prepare(batch: list[bytes]) -> np.ndarray:
        return np.stack([prepare(decode_image(data, 50_000_000), embedder.card) for data in batch])

    embedder.embed_prepared(decode_and_prepare(batches[0]))  # warm-up
    total = inference = cpu = 0.0
    for batch in batches:
        started, cpu_started = time.perf_counter(), time.process_time()
        prepared = decode_and_prepare(batch)
        ready = time.perf_counter()
        embedder.embed_prepared(prepared)
        done = time.perf_counter()
        total += done - started
        inference += done - ready
        cpu += time.process_time() - cpu_started
    n = len(payloads)
    return {"model": embedder.card.name, "input_size": list(embedder.card.input_size),
            "images": n, "batch": BATCH, "threads": threads or "all cores", "tta": embedder.tta,
            "ms_per_image": round(1000 * total / n, 2),
            "inference_ms_per_image": round(1000 * inference / n, 2),
            # CPU of this process (every onnxruntime thread): what other work on a shared machine
            # barely changes, unlike the wall times above
            "cpu_ms_per_image": round(1000 * cpu / n, 2),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, nargs="+", required=True)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ndsb")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0: all)")
    parser.add_argument("--tta", nargs="+", choices=["none", "hflip", "flips", "d4"],
                        help="test-time augmentations, one row each (default: each model card's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    found = find_images([args.data], label_from_folder=False)
    chosen = random.Random(args.seed).sample(found, min(args.images, len(found)))
    payloads = [image.path.read_bytes() for image in chosen]
    print("| model | input | TTA | images | ms/image (decode+prepare+ONNX) | inference ms/image "
          "| CPU ms/image | load |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for model, tta in [(model, tta) for model in args.models for tta in args.tta or [None]]:
        row = measure(model, payloads, args.threads, tta)
        print(f"| {row['model']} | {row['input_size'][0]} px | {row['tta']} | {row['images']} | "
              f"{row['ms_per_image']} | {row['inference_ms_per_image']} | {row['cpu_ms_per_image']} | "
              f"{row['load_average_1min']} |")
        print(json.dumps(row), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
