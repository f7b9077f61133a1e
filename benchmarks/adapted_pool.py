"""Recall@k of the adapted search's candidate pool (nauplius/core/adapted_search.py) for
docs/benchmarks.md: the head is fitted on the gallery's labels (the seeded 80 % split of `nauplius
eval --holdout 0.2`); for each held-out query, its exact k nearest gallery images in the adapted
space against the k best of its POOL_FACTOR x k plain nearest re-ranked in that space (recall@k),
and the held-out top-1 of each (what a suggestion's vote rests on). Exact plain
search here (numpy); the index's own recall against exact plain search is measured apart.

    .venv/bin/python benchmarks/adapted_pool.py --model models/plankton-lite0.onnx --sets zoolake ndsb
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nauplius.core.adaptation import fit_head
from nauplius.evaluate import embed_files
from nauplius.training.datasets import labelled_images
from nauplius.training.splits import stratified_split
from services.embedder.config import EmbedderSettings
from services.embedder.model import Embedder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n best scores of each row, best first."""
    part = np.argpartition(-scores, min(n, scores.shape[1]) - 1, axis=1)[:, :n]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--sets", nargs="+", default=["zoolake", "ndsb"])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 2, 5, 10, 20])
    args = parser.parse_args()
    settings = EmbedderSettings()
    embedder = Embedder(args.model, settings.threads, settings.batch_size, tta="none")
    for name in args.sets:
        split = stratified_split(labelled_images(DATA / name), 0.2, 0)
        gallery = embed_files(embedder, split.train, settings.max_pixels, False, "gallery")
        queries = embed_files(embedder, split.validation, settings.max_pixels, False, "queries")
        started = time.perf_counter()
        head = fit_head(gallery, [f.taxon for f in split.train])
        fit_s = time.perf_counter() - started
        g_adapted, q_adapted = head.transform(gallery), head.transform(queries)
        plain = queries @ gallery.T
        exact = top(q_adapted @ g_adapted.T, args.k)
        g_labels = np.asarray([f.taxon for f in split.train], dtype=object)
        q_labels = np.asarray([f.taxon for f in split.validation], dtype=object)

        def top1(nearest: np.ndarray, g: np.ndarray = g_labels, q: np.ndarray = q_labels) -> float:
            return round(float((g[nearest[:, 0]] == q).mean()), 4)

        recall, pooled_top1 = {}, {}
        for factor in args.factors:
            pool = top(plain, factor * args.k)
            rescored = np.einsum("qd,qpd->qp", q_adapted, g_adapted[pool])
            kept = np.take_along_axis(pool, top(rescored, args.k), axis=1)
            hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(exact, kept, strict=True))
            recall[str(factor)] = round(hits / exact.size, 4)
            pooled_top1[str(factor)] = top1(kept)
        print(json.dumps({"model": embedder.card.name, "set": name, "gallery": len(gallery),
                          "queries": len(queries), "k": args.k, "head": head.kind,
                          "parameters": head.description.get("parameters"),
                          "cv": {k: v for k, v in head.description["cross_validation"].items()
                                 if k != "tried"},
                          "fit_s": round(fit_s, 1), "recall_at_k_by_pool_factor": recall,
                          "top1_plain": top1(top(plain, 1)), "top1_adapted_exact": top1(exact),
                          "top1_adapted_by_pool_factor": pooled_top1}), flush=True)


if __name__ == "__main__":
    main()
