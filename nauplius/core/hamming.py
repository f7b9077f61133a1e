"""Hyperplane hashing (SimHash) maths shared by `nauplius eval --metric hamming` and the search
service: binary codes from the signs of seeded random projections, compared by Hamming distance.

Two unit vectors at angle t differ in each bit with probability t / pi, so cos(pi * d / bits) of the
Hamming distance d estimates their cosine similarity.
"""
import numpy as np


def hyperplanes(dim: int, bits: int, seed: int = 0) -> np.ndarray:
    if bits < 64 or bits % 64:
        raise ValueError(f"bits must be a positive multiple of 64, not {bits}")
    return np.random.default_rng(seed).standard_normal((dim, bits)).astype(np.float32)


def sign_bits(vectors: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """(n, dim) vectors -> (n, bits) booleans: on which side of each hyperplane."""
    vectors = np.asarray(vectors, dtype=np.float32)
    # One vector (a query) in numpy's own loop: on a busy machine OpenBLAS's threads can take
    # milliseconds to wake for a product that takes 0.1 ms.
    projected = np.einsum("nd,db->nb", vectors, planes) if len(vectors) == 1 else vectors @ planes
    bits: np.ndarray = projected > 0
    return bits


def binary_codes(vectors: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """(n, dim) vectors -> (n, bits / 64) uint64 words of sign bits."""
    packed = np.packbits(sign_bits(vectors, planes), axis=1)
    return np.ascontiguousarray(packed).view(np.uint64)


def signed_codes(vectors: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """The same bits as +1 / -1 float32 values: for two codes, dot = bits - 2 * Hamming distance,
    so a dot-product search over them ranks exactly by Hamming distance."""
    return np.where(sign_bits(vectors, planes), np.float32(1), np.float32(-1))


def hamming_distances(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """(q, words) and (g, words) codes -> (q, g) Hamming distances."""
    distances: np.ndarray = np.bitwise_count(queries[:, None, :] ^ gallery[None, :, :]).sum(
        axis=2, dtype=np.int32)
    return distances


def estimated_cosine(distance: int | float, bits: int) -> float:
    return float(np.cos(np.pi * distance / bits))
