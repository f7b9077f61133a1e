"""Same data, same queries: Qdrant Edge and qdrant-client (local mode) must agree."""

import numpy as np
import pytest

from services.search.backends.base import PointRecord
from tests.support.search import LOCAL_INDEX_WARNING, open_edge, open_local_qdrant, unit_vectors

pytestmark = pytest.mark.filterwarnings(LOCAL_INDEX_WARNING)

FILTERS = [None, {"label": "copepod"}, {"label": "diatom", "state": "validated"},
           {"instrument": "ifcb", "sample": "s2"}]


# (metric, rerank): hamming's ties are settled by id, so there both must agree id for id too.
METRICS = [("cosine", 0), ("euclidean", 0), ("hamming", 0), ("hamming", 25)]


def payload(i: int) -> dict:
    return {"label": ["copepod", "diatom", "detritus", "ciliate"][i % 4],
            "state": "validated" if i % 3 == 0 else "predicted",
            "instrument": "ifcb" if i % 2 else "uvp", "sample": f"s{i % 5}"}


def assert_same(edge_hits, local_hits, metric="cosine"):
    assert len(edge_hits) == len(local_hits)
    if metric == "hamming":  # ties settled by id: the very same list
        assert [h.id for h in edge_hits] == [h.id for h in local_hits]
    edge_scores = [h.score for h in edge_hits]
    assert edge_scores == pytest.approx([h.score for h in local_hits], abs=1e-4)
    # ids must be equal, except that tied scores may come in either order
    for rank, (e, loc) in enumerate(zip(edge_hits, local_hits, strict=True)):
        if e.id != loc.id:
            tied = [h.id for h in local_hits if abs(h.score - e.score) <= 1e-4]
            assert e.id in tied, f"rank {rank}: edge {e.id} vs local {loc.id}"


async def scroll_all(index, limit: int = 37) -> list:
    found, after = [], None
    while True:
        page, after = await index.scroll("plankton", after, limit)
        found += page
        if after is None:
            return found


@pytest.mark.parametrize("dim", [16, 1280])
async def test_edge_and_local_qdrant_agree(tmp_path, dim):
    n = 400 if dim == 16 else 150
    vectors = unit_vectors(n, dim, seed=11)
    # a few exact duplicates make ties on purpose
    vectors[n - 3:] = vectors[:3]
    points = [PointRecord(i, v.tolist(), payload(i)) for i, v in enumerate(vectors)]
    edge, local = open_edge(tmp_path), open_local_qdrant()
    try:
        for index in (edge, local):
            await index.ensure_collection("plankton", dim)
            await index.upsert("plankton", points)
            await index.delete("plankton", [5, 6])
            await index.set_payload("plankton", [7, 8], {"label": "copepod"})
        queries = unit_vectors(10, dim, seed=12)
        for flt in FILTERS:
            for metric, rerank in METRICS:
                for q in queries:
                    args = dict(vector=q.tolist(), k=10, metric=metric, filter=flt, rerank=rerank)
                    assert_same(await edge.query("plankton", **args), await local.query("plankton", **args),
                                metric)
                for point_id in (0, 7, 100):
                    args = dict(point_id=point_id, k=10, metric=metric, filter=flt, rerank=rerank)
                    assert_same(await edge.query("plankton", **args), await local.query("plankton", **args),
                                metric)
        assert await edge.count("plankton") == await local.count("plankton") == n - 2
        edge_points, local_points = await scroll_all(edge), await scroll_all(local)
        assert edge_points == local_points
        assert [p.id for p in edge_points] == [i for i in range(n) if i not in (5, 6)]
        ids = [9, 5, 7, n + 10, 0, 9]
        assert await edge.retrieve("plankton", ids) == await local.retrieve("plankton", ids)
        assert [p.id for p in await edge.retrieve("plankton", ids)] == [9, 7, 0]
        edge_vectors = await edge.vectors("plankton", ids)
        local_vectors = await local.vectors("plankton", ids)
        assert [p.id for p in edge_vectors] == [p.id for p in local_vectors] == [9, 7, 0]
        assert np.allclose([p.vector for p in edge_vectors], [p.vector for p in local_vectors], atol=1e-6)
    finally:
        await edge.close()
        await local.close()


RECOMMENDATIONS = [([0], []), ([0, 7], [100]), ([3, 250, 1500], [1, 2, 700, 1400]), ([42], [43])]


@pytest.mark.parametrize("strategy", ["best_score", "average_vector"])
async def test_edge_and_local_qdrant_agree_on_recommendations(tmp_path, strategy):
    # 1,600 ids over two Edge shards of 1,000: examples in one shard, answers from both.
    ids = list(range(0, 800)) + list(range(1000, 1800))
    vectors = unit_vectors(len(ids), 16, seed=21)
    points = [PointRecord(i, v.tolist(), payload(i)) for i, v in zip(ids, vectors, strict=True)]
    edge, local = open_edge(tmp_path), open_local_qdrant()
    try:
        for index in (edge, local):
            await index.ensure_collection("plankton", 16)
            await index.upsert("plankton", points)
        for flt in FILTERS:
            for positive, negative in RECOMMENDATIONS:
                args = dict(positive_ids=positive, negative_ids=negative, k=15, filter=flt,
                            strategy=strategy)
                edge_hits = await edge.recommend("plankton", **args)
                assert_same(edge_hits, await local.recommend("plankton", **args))
                assert len(edge_hits) == 15
                assert not {h.id for h in edge_hits} & {*positive, *negative}
    finally:
        await edge.close()
        await local.close()
