"""Held-out top-1 of models x test-time augmentations, side by side, each flip embedded once.

A TTA's vector is the normalised sum of the normalised vectors of its copies (Embedder.embed_prepared),
so every copy of every image is embedded once per model and each TTA is scored from the copies it
takes: the figures are those of `nauplius eval --gallery SET --holdout 0.2 --seed 0 --model M --tta
T --json` (the same split, embedding code, Qdrant Edge search and scores), at a fraction of the cost.

    .venv/bin/python benchmarks/tta_accuracy.py --models models/plankton-lite0.onnx \\
        models/plankton-lite0-int8.onnx [--sets zoolake ndsb] [--tta none hflip flips d4]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from nauplius.core.preprocess import decode_image, prepare
from nauplius.evaluate import search_all
from nauplius.training.datasets import ImageFile, labelled_images
from nauplius.training.retrieval_metrics import retrieval_scores
from nauplius.training.splits import stratified_split
from services.embedder.model import TTA_VARIANTS, Embedder, Variant, _normalise, transformed

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CHUNK = 64
K = 10


def embed_copies(embedder: Embedder, files: list[ImageFile],
                 variants: list[Variant]) -> tuple[dict[Variant, np.ndarray], dict[Variant, float]]:
    """Normalised vectors of every copy of every file, and the CPU seconds each copy cost."""
    vectors: dict[Variant, list[np.ndarray]] = {v: [] for v in variants}
    cpu = dict.fromkeys(variants, 0.0)
    for start in range(0, len(files), CHUNK):
        batch = np.stack([prepare(decode_image(f.path.read_bytes(), 50_000_000), embedder.card)
                          for f in files[start:start + CHUNK]])
        for variant in variants:
            started = time.process_time()
            vectors[variant].append(embedder.embed_prepared(transformed(batch, variant)))
            cpu[variant] += time.process_time() - started
    return {v: np.concatenate(parts) for v, parts in vectors.items()}, cpu


def combined(copies: dict[Variant, np.ndarray], tta: str) -> np.ndarray:
    variants = TTA_VARIANTS[tta]
    if len(variants) == 1:
        return copies[variants[0]]
    return _normalise(np.sum([copies[v] for v in variants], axis=0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, nargs="+", required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sets", nargs="+", default=["zoolake", "ndsb"])
    parser.add_argument("--tta", nargs="+", default=["none", "hflip", "flips"],
                        choices=list(TTA_VARIANTS))
    parser.add_argument("--json", type=Path, help="also write every row to this file")
    args = parser.parse_args()
    variants = list(dict.fromkeys(v for tta in args.tta for v in TTA_VARIANTS[tta]))
    rows = []
    print("| model | TTA | set | top-1 | vote5 | class top-1 | inference CPU ms/image | load |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for model in args.models:
        embedder = Embedder(model, threads=1, tta="none")  # one thread: CPU time is the cost
        for set_name in args.sets:
            split = stratified_split(labelled_images(args.data / set_name), 0.2, 0)
            gallery, gallery_cpu = embed_copies(embedder, split.train, variants)
            queries, query_cpu = embed_copies(embedder, split.validation, variants)
            n = len(split.train) + len(split.validation)
            for tta in args.tta:
                neighbours = asyncio.run(search_all(combined(gallery, tta), combined(queries, tta),
                                                    K, "cosine"))
                labels = [f.taxon for f in split.train]
                scores = retrieval_scores([f.taxon for f in split.validation],
                                          [[labels[i] for i, _ in hits] for hits in neighbours],
                                          [[s for _, s in hits] for hits in neighbours], "cosine", K)
                cpu_ms = 1000 * sum(gallery_cpu[v] + query_cpu[v] for v in TTA_VARIANTS[tta]) / n
                row = {"model": embedder.card.name, "tta": tta, "set": set_name,
                       "top1": scores["top1"], "vote5": scores["vote5"],
                       "mean_class_top1": scores["mean_class_top1"],
                       "inference_cpu_ms_per_image": round(cpu_ms, 2),
                       "load_average_1min": round(os.getloadavg()[0], 2),
                       "command": f"nauplius eval --gallery {args.data / set_name} --holdout 0.2 "
                                  f"--seed 0 --model {model} --tta {tta} --json"}
                rows.append(row)
                print(f"| {row['model']} | {tta} | {set_name} | {row['top1']:.4f} | "
                      f"{row['vote5']:.4f} | {row['mean_class_top1']:.4f} | {cpu_ms:.2f} | "
                      f"{row['load_average_1min']} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
