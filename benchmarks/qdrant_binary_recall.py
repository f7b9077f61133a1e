"""Recall@10 of Qdrant's binary quantization with rescoring, on real embeddings (docs/deployment.md).

Embeds real images of ../shared/data (ZooLake and NDSB, the shipped model, no TTA), then for 200
of them ranks all the others the way a Qdrant collection with `BinaryQuantization` and
`rescore=True` does, keeps oversampling x k candidates and re-ranks those on exact cosine:
- `binary`: the query binarised too, candidates by equal sign bits (Qdrant's default);
- `scalar8bits`: asymmetric, the query kept in 8 bits (`query_encoding`), candidates by the dot
  product of the query with the +1/-1 codes (8-bit rounding of the query left out).
Recall@10 is against exact cosine search over the same vectors. An exact scan of the codes:
Qdrant's HNSW over the codes can only find fewer.

    .venv/bin/python benchmarks/qdrant_binary_recall.py [--images N] [--json]
"""
import argparse
import json
import random
from pathlib import Path

import numpy as np

from nauplius.core.preprocess import decode_image
from services.embedder.model import Embedder

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
MODEL = REPO / "models" / "plankton-lite0.onnx"
K, QUERIES = 10, 200
OVERSAMPLING = (1, 2, 3, 5, 10)


def real_embeddings(limit: int | None) -> np.ndarray:
    files = sorted(p for name in ("zoolake", "ndsb") for p in (DATA / name).rglob("*")
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    random.Random(0).shuffle(files)
    embedder = Embedder(MODEL, threads=1, tta="none")
    images = [decode_image(f.read_bytes(), max_pixels=10**8) for f in files[:limit]]
    return embedder.embed_images(images)


def code_scores(vectors: np.ndarray, queries: np.ndarray) -> dict[str, np.ndarray]:
    bits = (vectors > 0).astype(np.float32)
    return {"binary": bits[queries] @ bits.T + (1 - bits[queries]) @ (1 - bits).T,
            "scalar8bits": vectors[queries] @ (2 * bits - 1).T}


def recall_by_oversampling(vectors: np.ndarray) -> dict[str, dict[int, float]]:
    queries = np.linspace(0, len(vectors) - 1, QUERIES).astype(int)
    cosine = vectors[queries] @ vectors.T
    cosine[np.arange(len(queries)), queries] = -np.inf  # a query is not its own neighbour
    truth = np.argsort(-cosine, axis=1)[:, :K]
    found = {}
    for encoding, scores in code_scores(vectors, queries).items():
        scores[np.arange(len(queries)), queries] = -np.inf
        found[encoding] = recall(cosine, scores, truth)
    return found


def recall(cosine: np.ndarray, scores: np.ndarray, truth: np.ndarray) -> dict[int, float]:
    recalls = {}
    for factor in OVERSAMPLING:
        candidates = np.argpartition(-scores, K * factor, axis=1)[:, :K * factor]
        rescored = np.take_along_axis(cosine, candidates, axis=1)
        top = np.take_along_axis(candidates, np.argsort(-rescored, axis=1)[:, :K], axis=1)
        recalls[factor] = float(np.mean([len(set(t) & set(r)) / K for t, r in zip(truth, top, strict=True)]))
    return recalls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, help="how many real images (default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    vectors = real_embeddings(args.images)
    positive = float((vectors > 0).mean())
    found = recall_by_oversampling(vectors)
    if args.json:
        print(json.dumps({"images": len(vectors), "positive_components": positive,
                          "recall_at_10": found}))
        return
    print(f"{len(vectors)} real embeddings, {positive:.1%} of components > 0")
    for encoding, recalls in found.items():
        print(f"  query encoding {encoding:<11}: recall@10 " + ", ".join(
            f"{value:.3f} (x{factor})" for factor, value in recalls.items()))


if __name__ == "__main__":
    main()
