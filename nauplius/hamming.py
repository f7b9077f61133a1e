"""Hyperplane hashing (SimHash) search over arrays for `nauplius eval --metric hamming`: binary codes
from the signs of seeded random projections (the maths of nauplius.core.hamming, shared with the
search service), searched by Hamming distance, optionally re-ranked by exact cosine.

Two unit vectors at angle t differ in each bit with probability t / pi, so cos(pi * d / bits) of the
Hamming distance d estimates their cosine similarity: that is the score returned without re-ranking.
"""
from __future__ import annotations

import numpy as np

from nauplius.core.hamming import binary_codes, estimated_cosine, hamming_distances, hyperplanes

__all__ = ["binary_codes", "hamming_distances", "hamming_search", "hyperplanes"]

QUERY_CHUNK = 64  # queries compared at once: bounds the (chunk, gallery, words) XOR array


def hamming_search(gallery: np.ndarray, queries: np.ndarray | None, k: int, bits: int,
                   rerank: int = 0, seed: int = 0) -> list[list[tuple[int, float]]]:
    """Neighbours (gallery index, score) of each query, best first; leave-one-out when queries is
    None. With rerank N > 0 the N nearest by Hamming distance are re-ordered by exact cosine
    (vectors are unit length) and the score is that cosine."""
    planes = hyperplanes(gallery.shape[1], bits, seed)
    gallery_codes = binary_codes(gallery, planes)
    leave_one_out = queries is None
    query_vectors = gallery if queries is None else queries
    query_codes = binary_codes(query_vectors, planes)
    candidates = max(k, rerank)
    results: list[list[tuple[int, float]]] = []
    for start in range(0, len(query_codes), QUERY_CHUNK):
        distances = hamming_distances(query_codes[start:start + QUERY_CHUNK], gallery_codes)
        if leave_one_out:
            rows = np.arange(len(distances))
            distances[rows, rows + start] = bits + 1  # never itself
        n = min(candidates, gallery_codes.shape[0] - leave_one_out)
        nearest = np.argpartition(distances, n - 1, axis=1)[:, :n]
        for row, ids in enumerate(nearest):
            ids = ids[np.argsort(distances[row, ids], kind="stable")]
            if rerank:
                cosine = gallery[ids] @ query_vectors[start + row]
                order = np.argsort(-cosine, kind="stable")[:k]
                results.append([(int(ids[i]), float(cosine[i])) for i in order])
            else:
                d = distances[row, ids[:k]]
                results.append([(int(i), estimated_cosine(di, bits)) for i, di in
                                zip(ids[:k], d, strict=True)])
    return results
