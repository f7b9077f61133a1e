"""Synthetic embeddings for `nauplius bench scale`: real embeddings plus seeded noise, made by
index in chunks (never all N at once), and the exact nearest neighbours of a few of them found
by streaming the same chunks again.

Vector i of N: i < B is real embedding i; past that, normalize(base[i % B] + sigma * g_i) with g_i
standard normal from numpy's default_rng(seed + i), so any vector can be made again alone.

sigma: for a synthetic point v = b + sigma * g, another base c is nearer than b only when
g . (c - b) > |c - b|^2 / (2 sigma); g . (c - b) is normal with deviation |c - b|, so with
sigma = d_min / (2 Z), d_min the smallest distance between two distinct bases, that takes a
Z-sigma draw (Z = 6: about 1e-9 per pair), whatever the dimension. Bases closer than
DUPLICATE_DISTANCE (the same picture embedded twice) are left out of d_min.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

Z = 6.0
DUPLICATE_DISTANCE = 1e-3
CHUNK = 5000


def noise_sigma(base: np.ndarray) -> tuple[float, float]:
    """(sigma, d_min) for unit-norm bases (rows)."""
    if len(base) < 2:
        raise ValueError("noise needs at least two real embeddings to size it")
    distances = []
    for start in range(0, len(base), 1024):  # a 1024 x B block of the gram matrix at a time
        gram = base[start:start + 1024] @ base.T
        squared = np.maximum(0.0, 2.0 - 2.0 * gram)
        squared[squared < DUPLICATE_DISTANCE ** 2] = np.inf  # itself and exact duplicates
        distances.append(np.sqrt(squared.min(axis=1)))
    d_min = float(np.concatenate(distances).min())
    if not np.isfinite(d_min):
        raise ValueError("every real embedding is a duplicate of another")
    return d_min / (2.0 * Z), d_min


@dataclass
class SyntheticVectors:
    base: np.ndarray  # (B, d) float32, unit rows: the real embeddings
    total: int  # N
    sigma: float
    seed: int = 0

    def vector(self, i: int) -> np.ndarray:
        if i < len(self.base):
            return self.base[i]
        noise = np.random.default_rng(self.seed + i).standard_normal(self.base.shape[1])
        moved = self.base[i % len(self.base)] + self.sigma * noise
        return (moved / np.linalg.norm(moved)).astype(np.float32)

    def chunks(self, start: int = 0, size: int = CHUNK) -> Iterator[tuple[int, np.ndarray]]:
        """(first index, vectors) of [start, total) in chunks of `size` rows."""
        for first in range(start, self.total, size):
            stop = min(first + size, self.total)
            yield first, np.stack([self.vector(i) for i in range(first, stop)])

    def base_of(self, i: int) -> int:
        """Which real embedding vector i is made from (itself for a real one)."""
        return i % len(self.base)


def exact_neighbours(vectors: SyntheticVectors, queries: list[int], k: int) -> np.ndarray:
    """(len(queries), k) indices of each query vector's k nearest by cosine, itself left out,
    best first; one pass over the chunks, holding k + chunk scores per query."""
    q = np.stack([vectors.vector(i) for i in queries])
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_index = np.full((len(queries), k), -1, dtype=np.int64)
    own = np.asarray(queries)
    for first, chunk in vectors.chunks():
        scores = q @ chunk.T  # (Q, chunk)
        index = np.arange(first, first + len(chunk))
        scores[index[None, :] == own[:, None]] = -np.inf
        merged_scores = np.concatenate([best_scores, scores], axis=1)
        merged_index = np.concatenate([best_index, np.broadcast_to(index, scores.shape)], axis=1)
        top = np.argpartition(-merged_scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, top, axis=1)
        best_index = np.take_along_axis(merged_index, top, axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    return np.take_along_axis(best_index, order, axis=1)


def nearest_base_is_own(vectors: SyntheticVectors, indices: list[int]) -> float:
    """The share of these synthetic vectors whose nearest real embedding is their own base."""
    synthetic = [i for i in indices if i >= len(vectors.base)]
    if not synthetic:
        return 1.0
    q = np.stack([vectors.vector(i) for i in synthetic])
    nearest = (q @ vectors.base.T).argmax(axis=1)
    return float(np.mean(nearest == np.array([vectors.base_of(i) for i in synthetic])))
