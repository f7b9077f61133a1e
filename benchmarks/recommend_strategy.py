"""Which recommendation strategy refines a similar-images page best: the oracle's move of
`nauplius bench labelling` on real embeddings, through the search service's own Edge backend.

    .venv/bin/python benchmarks/recommend_strategy.py [--set zoolake] [--trials 300] [--page 50]

Each trial: an image drawn (seeded) is the example; its page is the `--page` nearest images; the
page's images of the example's class are the right ones, the others the wrong ones (the truth
judges what the page shows). Trials with at least `--min-wrong` wrong images are refined: the
next page (images not yet shown) is asked four ways, and the table gives its mean precision (the
share of the example's class) and its mean count of right images: the plain query's next page
(offset), nearest to any of the right images (no negatives), best_score and average_vector with
the right images as positives and the wrong ones as negatives.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
from pathlib import Path

import numpy as np

from nauplius.core.preprocess import decode_image, prepare
from nauplius.training.datasets import labelled_images
from services.embedder.config import DEFAULT_MODEL
from services.embedder.model import Embedder
from services.search.backends.base import PointRecord
from services.search.backends.edge import EdgeIndex

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MAX_PIXELS = 50_000_000
WAYS = ("plain next page", "nearest to any right", "best_score", "average_vector")


def embed(embedder: Embedder, paths: list[Path]) -> np.ndarray:
    parts = []
    for start in range(0, len(paths), 64):
        batch = np.stack([prepare(decode_image(p.read_bytes(), MAX_PIXELS), embedder.card)
                          for p in paths[start:start + 64]])
        parts.append(embedder.embed_prepared(batch))
    return np.concatenate(parts)


async def measure(vectors: np.ndarray, labels: list[str], trials: int, page: int,
                  min_wrong: int, seed: int) -> dict[str, list[int]]:
    right_counts: dict[str, list[int]] = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory() as folder:
        index = EdgeIndex.open(Path(folder), optimize_delay_s=3600.0)
        try:
            await index.ensure_collection("bench", vectors.shape[1])
            await index.upsert("bench", [PointRecord(i, v, {}) for i, v in enumerate(vectors)])
            rng = random.Random(seed)
            for example in rng.sample(range(len(labels)), trials):
                truth = labels[example]
                first = [h.id for h in await index.query("bench", point_id=example, k=page)]
                right = [i for i in first if labels[i] == truth]
                wrong = [i for i in first if labels[i] != truth]
                if len(wrong) < min_wrong:
                    continue
                seen = {example, *first}
                positives = [example, *right][:50]
                asked = page + len(seen)
                answers = {
                    "plain next page": await index.query("bench", point_id=example, k=asked),
                    "nearest to any right": await index.recommend(
                        "bench", positive_ids=positives, k=asked),
                    "best_score": await index.recommend(
                        "bench", positive_ids=positives, negative_ids=wrong[:50], k=asked),
                    "average_vector": await index.recommend(
                        "bench", positive_ids=positives, negative_ids=wrong[:50], k=asked,
                        strategy="average_vector"),
                }
                for way, hits in answers.items():
                    shown = [h.id for h in hits if h.id not in seen][:page]
                    right_counts[way].append(sum(labels[i] == truth for i in shown))
        finally:
            await index.close()
    return right_counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", default="zoolake")
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--page", type=int, default=50)
    parser.add_argument("--min-wrong", type=int, default=10)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    images = labelled_images(DATA / args.set)
    embedder = Embedder(args.model, threads=0, tta="none")
    vectors = embed(embedder, [image.path for image in images])
    labels = [image.taxon for image in images]
    counts = asyncio.run(measure(vectors, labels, args.trials, args.page, args.min_wrong,
                                 args.seed))
    refined = len(counts[WAYS[0]])
    print(f"{args.set}: {len(labels)} images, model {embedder.card.name}; {refined} of "
          f"{args.trials} example pages had >= {args.min_wrong} wrong images of {args.page}")
    print("| next page | mean precision | mean right images |")
    print("|---|---:|---:|")
    for way in WAYS:
        values = np.array(counts[way], dtype=float)
        print(f"| {way} | {values.mean() / args.page:.3f} | {values.mean():.1f} |")


if __name__ == "__main__":
    main()
