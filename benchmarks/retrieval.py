"""Retrieval table for docs/benchmarks.md: model x metric x set -> top-1, vote5, mean per-class
top-1, ms/image, each row with the exact `nauplius eval` command that gives it.

Every row uses the protocol of the issue: gallery = the training part of the set, queries = its
held-out part (`--holdout 0.2 --seed 0`, the split `nauplius model train` validates on), so the
fine-tuned models are never scored on images they were trained on. "cross-set" rows score a model
on the set it was not trained on. ms/image is the embedding cost (decode + preprocess + ONNX) of
that run; the embedding rate is best measured on an otherwise idle machine.

    .venv/bin/python benchmarks/retrieval.py --models models/efficientnet-lite0-imagenet.onnx \\
        models/resnet50-imgsim.onnx models/plankton-lite0-zoolake.onnx [--sets zoolake ndsb] \\
        [--metrics cosine euclidean hamming hamming-rerank] [--tta none d4]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nauplius.evaluate import evaluate
from services.embedder.card import load_card

REPO = Path(__file__).resolve().parents[1]

DATA = REPO.parent / "shared" / "data"
METRICS: dict[str, dict[str, Any]] = {
    "cosine": {"metric": "cosine"},
    "euclidean": {"metric": "euclidean"},
    "hamming": {"metric": "hamming", "bits": 512},
    "hamming-rerank": {"metric": "hamming", "bits": 512, "rerank": 100},
}


def command(model: Path, data: Path, options: dict, tta: str) -> str:
    parts = [f"nauplius eval --gallery {data} --holdout 0.2 --seed 0 --model {model}",
             f"--metric {options['metric']}"]
    if "bits" in options:
        parts.append(f"--bits {options['bits']}")
    if options.get("rerank"):
        parts.append(f"--rerank {options['rerank']}")
    if tta != "none":
        parts.append(f"--tta {tta}")
    return " ".join(parts) + " --json"


def trained_sets(model: Path) -> set[str]:
    training = (load_card(model).model_extra or {}).get("training") or {}
    return {d["name"] for d in training.get("data_sets", [])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, nargs="+", required=True)
    parser.add_argument("--data", type=Path, default=DATA, help=f"where the sets lie ({DATA})")
    parser.add_argument("--sets", nargs="+", default=["zoolake", "ndsb"])
    parser.add_argument("--metrics", nargs="+", default=list(METRICS), choices=list(METRICS))
    parser.add_argument("--tta", nargs="+", default=["none"], choices=["none", "flips", "d4"])
    parser.add_argument("--json", type=Path, help="also write every result to this file")
    args = parser.parse_args()

    print("| model | metric | TTA | set | top-1 | vote5 | class top-1 | ms/image |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    results, commands = [], []
    embeddings: dict = {}  # each model x set x TTA is embedded once, whatever the metrics
    for model in args.models:
        trained = trained_sets(model)
        for set_name in args.sets:
            role = ("" if not trained else " (held-out part)" if set_name in trained
                    else " (cross-set)")
            for metric in args.metrics:
                for tta in args.tta:
                    options = METRICS[metric]
                    result = evaluate(args.data / set_name, model_path=model, progress=False,
                                      holdout=0.2, seed=0, tta=tta, embedding_cache=embeddings,
                                      **options)
                    results.append(result)
                    commands.append(command(model, args.data / set_name, options, tta))
                    print(f"| {result['model']} | {metric} | {tta} | {set_name}{role} | "
                          f"{result['top1']:.4f} | {result['vote5']:.4f} | "
                          f"{result['mean_class_top1']:.4f} | "
                          f"{result['embed_ms_per_image']:.1f} |", flush=True)
    print("\nCommands, in row order:\n\n```sh")
    print("\n".join(commands))
    print("```")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
