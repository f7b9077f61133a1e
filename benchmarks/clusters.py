"""Cluster proposals on a dev set: purity, coverage and time of HDBSCAN with and without PCA, and
which cluster statistic predicts a cluster's real purity (nauplius.core.clustering).

    .venv/bin/python benchmarks/clusters.py --data ../shared/data/zoolake [--per-class 60]

Embeds with the embedder's shipped model (vectors cached in /tmp), then clusters the set as the
`clusters` job would (every image unjudged). Purity: the share of a cluster's members in its most
common true class; weighted by size. Coverage: the share of images in some cluster.
"""

import argparse
import hashlib
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np

from nauplius.core.clustering import propose
from nauplius.evaluate import embed_files
from nauplius.training.datasets import labelled_images
from services.embedder.config import EmbedderSettings
from services.embedder.model import Embedder


def embedded(data: Path, per_class: int) -> tuple[np.ndarray, list[str]]:
    files = labelled_images(data)
    by_class: dict[str, list] = {}
    for f in files:
        by_class.setdefault(str(f.label), []).append(f)
    rng = random.Random(0)
    chosen = [f for c in sorted(by_class) for f in rng.sample(by_class[c], min(per_class, len(by_class[c])))]
    key = hashlib.sha256("".join(str(f.path) for f in chosen).encode()).hexdigest()[:12]
    cache = Path(f"/tmp/nauplius-clusters-{key}.npy")
    if cache.exists():
        x = np.load(cache)
    else:
        settings = EmbedderSettings()
        x = embed_files(Embedder(settings.model_path, threads=2), chosen, settings.max_pixels,
                        True, data.name)
        np.save(cache, x)
    return x, [str(f.label) for f in chosen]


def measure(x: np.ndarray, truth: list[str], **kwargs: object) -> dict[str, float]:
    ids = list(range(len(truth)))
    start = time.perf_counter()
    proposals = propose(ids, x, **kwargs)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    purities = [Counter(truth[i] for i in p.members).most_common(1)[0][1] / len(p.members)
                for p in proposals]
    sizes = [len(p.members) for p in proposals]
    clustered = sum(sizes)
    first_pages = [Counter(truth[i] for i in p.members[:50]).most_common(1)[0][1] for p in proposals]
    cos = [p.mean_cosine for p in proposals]
    prob = [p.mean_probability for p in proposals]
    return {
        "clusters": len(proposals), "coverage": clustered / len(truth),
        "purity": float(np.average(purities, weights=sizes)) if sizes else 0.0,
        "first_page_majority_mean": float(np.mean(first_pages)) if first_pages else 0.0,
        "corr_cosine": float(np.corrcoef(cos, purities)[0, 1]) if len(sizes) > 2 else 0.0,
        "corr_probability": float(np.corrcoef(prob, purities)[0, 1]) if len(sizes) > 2 else 0.0,
        "fit": np.polyfit(cos, purities, 1).round(3).tolist() if len(sizes) > 2 else [],
        "best_purity": purities[0] if purities else 0.0,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=60)
    args = parser.parse_args()
    x, truth = embedded(args.data, args.per_class)
    print(f"{args.data.name}: {len(truth)} images, {len(set(truth))} classes, {x.shape[1]}-d")
    for dims in (None, 64, 32, 16):
        for selection in ("leaf", "eom"):
            row = measure(x, truth, pca_dims=dims, selection=selection)
            print(f"pca={dims} {selection}: " + ", ".join(
                f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
