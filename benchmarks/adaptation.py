"""Plain vs adapted (`nauplius eval --adapt`) held-out top-1 for docs/benchmarks.md, each row with
the exact `nauplius eval` command that gives it. One embedding per model and set (evaluate's
embedding_cache), then one head fit per row.

    .venv/bin/python benchmarks/adaptation.py --models models/plankton-lite0.onnx \\
        models/efficientnet-lite0-imagenet.onnx --sets zoolake ndsb --labels 25 100 all
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from nauplius.evaluate import evaluate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=Path, nargs="+", required=True)
    parser.add_argument("--sets", nargs="+", default=["zoolake", "ndsb"])
    parser.add_argument("--labels", nargs="+", default=["all"],
                        help="--adapt-labels values; 'all' for no cap")
    args = parser.parse_args()
    for model in args.models:
        for name in args.sets:
            cache: dict = {}
            base = (f"nauplius eval --gallery ../shared/data/{name} --holdout 0.2 --seed 0 "
                    f"--model {model} --tta none --json")
            runs: list[tuple[str, dict[str, Any]]] = [("plain", {})] + [
                (f"--adapt{'' if n == 'all' else f' --adapt-labels {n}'}",
                 {"adapt": True, "adapt_labels": None if n == "all" else int(n)})
                for n in args.labels]
            for flags, options in runs:
                started = time.perf_counter()
                result = evaluate(DATA / name, holdout=0.2, seed=0, model_path=model, tta="none",
                                  progress=False, embedding_cache=cache, **options)
                head = result.get("head", {})
                print(json.dumps({
                    "command": base + ("" if flags == "plain" else f" {flags}"),
                    "model": result["model"], "set": name, "top1": round(result["top1"], 4),
                    "vote5": round(result["vote5"], 4),
                    "mean_class_top1": round(result["mean_class_top1"], 4),
                    "head": {k: head[k] for k in ("kind", "parameters", "learned_from",
                                                   "fit_s", "output_dim") if k in head},
                    "cv": {k: v for k, v in head.get("cross_validation", {}).items()
                           if k != "tried"},
                    "seconds": round(time.perf_counter() - started, 1)}), flush=True)


if __name__ == "__main__":
    main()
