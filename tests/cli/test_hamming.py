"""Hyperplane hashing search against exact cosine search."""
import numpy as np
import pytest

from nauplius.hamming import binary_codes, hamming_distances, hamming_search, hyperplanes


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _graded_set(n_queries=8, dim=64, seed=0):
    """Each query has five gallery neighbours at cosines 0.95 .. 0.6, among 60 random vectors."""
    rng = np.random.default_rng(seed)
    queries = _unit(rng.standard_normal((n_queries, dim)))
    gallery = [_unit(rng.standard_normal((60, dim)))]
    for cosine in (0.95, 0.9, 0.8, 0.7, 0.6):
        noise = rng.standard_normal((n_queries, dim))
        noise = _unit(noise - (noise * queries).sum(1, keepdims=True) * queries)  # orthogonal
        gallery.append(cosine * queries + np.sqrt(1 - cosine**2) * noise)
    gallery = rng.permutation(np.concatenate(gallery)).astype(np.float32)
    return gallery, queries.astype(np.float32)


def _exact(gallery, queries, k):
    return np.argsort(-(queries @ gallery.T), axis=1)[:, :k].tolist()


def test_popcount_distance_is_the_number_of_differing_sign_bits():
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((5, 16)).astype(np.float32)
    planes = hyperplanes(16, 128, seed=3)
    signs = vectors @ planes > 0
    expected = (signs[:, None, :] != signs[None, :, :]).sum(axis=2)
    codes = binary_codes(vectors, planes)
    assert codes.shape == (5, 2)
    assert np.array_equal(hamming_distances(codes, codes), expected)


def test_long_codes_return_the_exact_neighbours():
    gallery, queries = _graded_set()
    found = hamming_search(gallery, queries, k=5, bits=1024)
    assert [[i for i, _ in hits] for hits in found] == _exact(gallery, queries, 5)
    cosines = queries @ gallery.T
    for q, hits in enumerate(found):  # the score estimates the cosine
        assert all(abs(score - cosines[q, i]) < 0.15 for i, score in hits)


def test_short_codes_miss_and_rerank_restores_the_exact_order():
    gallery, queries = _graded_set(n_queries=32)
    exact = _exact(gallery, queries, 5)
    plain = [[i for i, _ in hits] for hits in hamming_search(gallery, queries, 5, bits=64)]
    assert plain != exact  # 64 bits cannot order cosines 0.05 apart
    reranked = hamming_search(gallery, queries, 5, bits=256, rerank=20)
    assert [[i for i, _ in hits] for hits in reranked] == exact
    assert np.allclose([s for hits in reranked for _, s in hits],
                       [(queries @ gallery.T)[q, i] for q, hits in enumerate(reranked)
                        for i, _ in hits], atol=1e-5)


def test_leave_one_out_never_returns_the_query_itself():
    gallery, _ = _graded_set()
    for q, hits in enumerate(hamming_search(gallery, None, k=3, bits=256)):
        assert q not in [i for i, _ in hits] and len(hits) == 3


@pytest.mark.parametrize("bits", [0, 100, 32])
def test_code_length_must_be_a_multiple_of_64(bits):
    with pytest.raises(ValueError, match="multiple of 64"):
        hyperplanes(8, bits)
