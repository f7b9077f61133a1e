"""The near-duplicate threshold: cosine of augmented copies of real images to their original (true
duplicates: what the check must catch) against the cosine of each image to its nearest distinct
organism of the same class (what it must not flag), with the embedder's model, per set.

    .venv/bin/python benchmarks/near_duplicates.py [--sets zoolake ndsb] [--per-class 8] \\
        [--originals 120] [--model models/plankton-lite0-int8.onnx]

Copies: a shift of 3 px (edges replicated), a crop of 6 % off each border, a JPEG re-encode at
quality 70, a brightness +12 %. Distinct: an image's nearest neighbour among the other sampled
images of its class (a stricter test than the check's own, which compares within one sample).
"""
from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from nauplius.core.preprocess import decode_image, prepare
from nauplius.training.datasets import labelled_images
from services.embedder.config import DEFAULT_MODEL
from services.embedder.model import Embedder

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
THRESHOLDS = (0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99)
MAX_PIXELS = 50_000_000


def shift(image: np.ndarray) -> np.ndarray:
    matrix = np.array([[1, 0, 3], [0, 1, 3]], dtype=np.float32)
    return cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]),
                          borderMode=cv2.BORDER_REPLICATE)


def crop(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    dy, dx = max(1, round(h * 0.06)), max(1, round(w * 0.06))
    return image[dy:h - dy, dx:w - dx]


def reencode(image: np.ndarray) -> np.ndarray:
    return image  # the copy is written at quality 70 below, this one only goes through it


def brighter(image: np.ndarray) -> np.ndarray:
    return cv2.convertScaleAbs(image, alpha=1.12, beta=0)


AUGMENTATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], int]] = {
    "shift 3px": (shift, 95), "crop 6%": (crop, 95), "jpeg q70": (reencode, 70),
    "brightness +12%": (brighter, 95),
}


def copy_bytes(data: bytes, augmentation: str) -> bytes:
    function, quality = AUGMENTATIONS[augmentation]
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    ok, encoded = cv2.imencode(".jpg", function(image), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return encoded.tobytes()


def embed(embedder: Embedder, blobs: list[bytes]) -> np.ndarray:
    parts = []
    for start in range(0, len(blobs), 64):
        batch = np.stack([prepare(decode_image(b, MAX_PIXELS), embedder.card)
                          for b in blobs[start:start + 64]])
        parts.append(embedder.embed_prepared(batch))
    return np.concatenate(parts)


def scores(embedder: Embedder, set_name: str, per_class: int, originals: int,
           seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = random.Random(seed)
    by_class: dict[str, list[Path]] = {}
    for image in labelled_images(DATA / set_name):
        by_class.setdefault(image.taxon, []).append(image.path)
    paths, labels = [], []
    for taxon, files in sorted(by_class.items()):
        if len(files) < 2:
            continue
        for path in rng.sample(sorted(files), min(per_class, len(files))):
            paths.append(path)
            labels.append(taxon)
    blobs = [p.read_bytes() for p in paths]
    vectors = embed(embedder, blobs)
    label_array = np.array(labels)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    same = label_array[:, None] == label_array[None, :]
    distinct = np.where(same, similarity, -np.inf).max(axis=1)
    chosen = rng.sample(range(len(paths)), min(originals, len(paths)))
    copies = {}
    for augmentation in AUGMENTATIONS:
        copied = embed(embedder, [copy_bytes(blobs[i], augmentation) for i in chosen])
        copies[augmentation] = np.sum(copied * vectors[chosen], axis=1)
    return copies, distinct


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=["zoolake", "ndsb"])
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--originals", type=int, default=120)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    embedder = Embedder(args.model, threads=1, tta="none")
    print(f"model {embedder.card.name}")
    for set_name in args.sets:
        copies, distinct = scores(embedder, set_name, args.per_class, args.originals, args.seed)
        caught_all = np.concatenate(list(copies.values()))
        print(f"\n{set_name}: {len(caught_all) // len(copies)} originals x {len(copies)} copies, "
              f"{len(distinct)} images' nearest distinct same-class organism")
        print("| cosine >= | " + " | ".join(copies) + " | all copies caught | distinct flagged |")
        print("|---:|" + "---:|" * (len(copies) + 2))
        for threshold in THRESHOLDS:
            cells = [f"{np.mean(s >= threshold):.1%}" for s in copies.values()]
            print(f"| {threshold:.2f} | " + " | ".join(cells)
                  + f" | {np.mean(caught_all >= threshold):.1%} | {np.mean(distinct >= threshold):.1%} |")
        print("copy cosine min/p5/median: " + ", ".join(
            f"{name} {s.min():.3f}/{np.percentile(s, 5):.3f}/{np.median(s):.3f}"
            for name, s in copies.items()))
        print(f"distinct cosine p50/p95/p99/max: {np.median(distinct):.3f}/"
              f"{np.percentile(distinct, 95):.3f}/{np.percentile(distinct, 99):.3f}/{distinct.max():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
