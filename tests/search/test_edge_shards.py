"""Qdrant Edge shards by id range, built in a child process and swapped in while queries go on."""

import asyncio
import json

import numpy as np
import pytest
import qdrant_edge as qe

from services.search.backends import edge
from services.search.backends.base import IndexQuery, PointRecord
from services.search.backends.edge_build import BuildFailed
from services.search.errors import HammingUnavailable, TooManyShards
from tests.support.search import open_edge, unit_vectors

DIM = 32


def records(vectors: np.ndarray, start: int = 0) -> list[PointRecord]:
    return [PointRecord(start + i, v.tolist(), {"label": f"taxon{(start + i) % 5}"})
            for i, v in enumerate(vectors)]


def exact(vectors: np.ndarray, query: np.ndarray, k: int, among=None) -> list[int]:
    ids = np.arange(len(vectors)) if among is None else np.asarray(among)
    scores = vectors[ids] @ query
    return ids[np.argsort(-scores, kind="stable")[:k]].tolist()


async def test_points_spread_over_shards_by_id_and_answer_as_one_collection(tmp_path):
    vectors = unit_vectors(2500, DIM, seed=1)
    index = open_edge(tmp_path, shard_points=1000)
    try:
        await index.ensure_collection("plankton", DIM)
        await index.upsert("plankton", records(vectors))
        status = await index.index_status("plankton")
        assert status["shards"] == 3 and status["points"] == 2500
        for i in (0, 999, 1000, 2499):  # each shard's first and last ids, by id and by vector
            hits = await index.query("plankton", point_id=i, k=10)
            assert [h.id for h in hits] == exact(vectors, vectors[i], 11)[1:]
        taxon2 = [i for i in range(2500) if i % 5 == 2]
        hits = await index.query("plankton", vector=vectors[7].tolist(), k=10,
                                 filter={"label": "taxon2"})
        assert [h.id for h in hits] == exact(vectors, vectors[7], 10, among=taxon2)
        got = await index.retrieve("plankton", [2400, 5, 1500, 99999])
        assert [p.id for p in got] == [2400, 5, 1500]
        assert await index.delete("plankton", [1, 1001, 2001, 99999]) == 3
        assert await index.count("plankton") == 2497
    finally:
        await index.close()


async def test_scroll_walks_every_shard_in_id_order(tmp_path):
    vectors = unit_vectors(700, DIM, seed=2)
    index = open_edge(tmp_path, shard_points=100)
    try:
        await index.ensure_collection("plankton", DIM)
        ids = list(range(0, 2100, 3))  # shards 0..20, with gaps
        await index.upsert("plankton", [PointRecord(i, vectors[n].tolist())
                                        for n, i in enumerate(ids)])
        for page_size in (1, 7, 100, 1000):
            seen, after = [], None
            while True:
                page, after = await index.scroll("plankton", after, page_size)
                seen += [p.id for p in page]
                if after is None:
                    break
            assert seen == ids
    finally:
        await index.close()


async def test_a_write_past_the_shard_cap_is_refused_and_stores_nothing(tmp_path):
    vectors = unit_vectors(3, DIM, seed=3)
    index = open_edge(tmp_path, shard_points=10, max_shards=2)
    try:
        await index.ensure_collection("plankton", DIM)
        await index.upsert("plankton", records(vectors[:2]))  # shard 0
        with pytest.raises(TooManyShards, match="SEARCH_MAX_SHARDS"):
            await index.upsert("plankton", [PointRecord(15, vectors[0].tolist()),
                                            PointRecord(25, vectors[1].tolist())])
        assert await index.count("plankton") == 2
    finally:
        await index.close()


async def test_queries_are_answered_while_a_shard_is_built(tmp_path):
    """The build runs in a child process: queries keep being answered while it runs (an
    in-process optimize() holds the GIL, and none would be)."""
    n = 6000
    vectors = unit_vectors(n, 256, seed=4)
    index = open_edge(tmp_path, shard_points=n)
    try:
        await index.ensure_collection("plankton", 256)
        for start in range(0, n, 1000):
            await index.upsert("plankton", records(vectors[start:start + 1000], start))
        build = asyncio.create_task(index.optimize("plankton"))
        answered_during_build = 0
        while not build.done():
            building = (await index.index_status("plankton"))["building"]
            hits = await index.query("plankton", point_id=answered_during_build % n, k=5)
            assert len(hits) == 5
            if building and (await index.index_status("plankton"))["building"]:
                answered_during_build += 1
            await asyncio.sleep(0)
        assert await build
        assert answered_during_build > 0
        status = await index.index_status("plankton")
        assert status["indexed"] == n and status["building"] == 0
    finally:
        await index.close()


async def test_writes_during_a_build_are_in_the_swapped_shard_and_after_reopening(tmp_path,
                                                                               monkeypatch):
    vectors = unit_vectors(1600, DIM, seed=5)
    index = open_edge(tmp_path, shard_points=2000)
    await index.ensure_collection("plankton", DIM)
    await index.upsert("plankton", records(vectors[:1500]))
    collection = index._collections["plankton"]
    member = collection.members[0]
    started = asyncio.Event()
    real_build = edge.build_in_child

    async def build_while_writing(folder):
        started.set()
        await asyncio.sleep(0.2)  # let the writes below land in the live generation first
        return await real_build(folder)

    monkeypatch.setattr(edge, "build_in_child", build_while_writing)
    build = asyncio.create_task(index.optimize("plankton"))
    await started.wait()
    await index.upsert("plankton", records(vectors[1500:], 1500))
    await index.delete("plankton", [3])
    await index.set_payload("plankton", [4], {"state": "validated"})
    assert await build
    assert member.generation == 1
    assert sorted(p.name for p in member.folder.iterdir()) == ["CURRENT", "gen-1"]

    async def check(ix) -> None:
        assert await ix.count("plankton") == 1599
        assert await ix.retrieve("plankton", [3]) == []
        hits = await ix.query("plankton", vector=vectors[4].tolist(), k=1,
                              filter={"state": "validated"})
        assert [h.id for h in hits] == [4]
        hits = await ix.query("plankton", point_id=1550, k=3)
        assert [h.id for h in hits] == [i for i in exact(vectors, vectors[1550], 5)
                                        if i not in (3, 1550)][:3]

    await check(index)
    await index.close()
    reopened = open_edge(tmp_path, shard_points=2000)
    try:
        await check(reopened)
    finally:
        await reopened.close()


async def test_a_failed_build_leaves_the_live_shard_serving_and_is_tried_again(tmp_path, monkeypatch):
    # A child that dies (killed, out of memory) cannot be caused on demand: its failure is faked.
    vectors = unit_vectors(1200, DIM, seed=6)
    index = open_edge(tmp_path, shard_points=2000, optimize_delay_s=0.0, indexing_threshold_kb=1)
    failures = []

    async def dies(folder):
        failures.append(folder)
        raise BuildFailed(f"building {folder} exited with -9")

    monkeypatch.setattr(edge, "build_in_child", dies)
    monkeypatch.setattr(edge, "BUILD_RETRY_S", 3600.0)
    try:
        await index.ensure_collection("plankton", DIM)
        await index.upsert("plankton", records(vectors))
        member = index._collections["plankton"].members[0]
        for _ in range(200):  # until the builder has given the build up
            if failures and member.build_log is None:
                break
            await asyncio.sleep(0.05)
        assert len(failures) == 1 and not failures[0].exists()  # the copy is gone
        assert member.dirty
        hits = await index.query("plankton", point_id=10, k=3)
        assert [h.id for h in hits] == exact(vectors, vectors[10], 4)[1:]
        monkeypatch.undo()
        assert await index.optimize("plankton")  # asked again, it builds
        assert (await index.index_status("plankton"))["indexed"] == 1200
    finally:
        await index.close()


async def test_opening_drops_a_build_cut_short(tmp_path):
    vectors = unit_vectors(50, DIM, seed=7)
    index = open_edge(tmp_path)
    await index.ensure_collection("plankton", DIM)
    await index.upsert("plankton", records(vectors))
    member = index._collections["plankton"].members[0]
    member.copy_for_build()  # as if the service died while the child was building
    await index.close()
    assert (member.folder / "gen-1").is_dir()
    reopened = open_edge(tmp_path)
    try:
        assert await reopened.count("plankton") == 50
        assert sorted(p.name for p in member.folder.iterdir()) == ["CURRENT", "gen-0"]
    finally:
        await reopened.close()


async def test_a_collection_from_before_shards_opens_as_one_shard(tmp_path):
    vectors = unit_vectors(30, DIM, seed=8)
    folder = tmp_path / "plankton"
    config = qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine))
    shard = qe.EdgeShard.create(str(folder / "shard"), config)
    shard.update(qe.UpdateOperation.upsert_points(
        [qe.Point(i * 10_000, v.tolist(), {}) for i, v in enumerate(vectors)]))
    shard.flush()
    shard.close()
    (folder / "collection.json").write_text(json.dumps({"name": "plankton", "dim": DIM,
                                                        "distance": "cosine"}))
    index = open_edge(tmp_path, shard_points=100)
    try:
        assert await index.count("plankton") == 30
        assert (await index.index_status("plankton"))["shards"] == 1
        await index.upsert("plankton", [PointRecord(999_999, vectors[0].tolist())])
        assert (await index.index_status("plankton"))["shards"] == 1  # every id stays in it
        hits = await index.query("plankton", point_id=0, k=1)
        assert [h.id for h in hits] == [999_999]
        with pytest.raises(HammingUnavailable):
            await index.query("plankton", point_id=0, k=1, metric="hamming")
    finally:
        await index.close()


async def test_with_binary_codes_a_shard_without_an_index_is_searched_exactly(tmp_path):
    # Edge would search the codes of a plain segment too (recall@10 about 0.5 at oversampling 1
    # on these vectors): a shard is only searched through its codes once it has an HNSW index.
    rng = np.random.default_rng(9)
    centres = rng.normal(size=(50, 256))
    vectors = centres[rng.integers(0, 50, 3000)] + rng.normal(size=(3000, 256))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    index = open_edge(tmp_path, quantization="binary", oversampling=1.0, shard_points=10_000)
    try:
        await index.ensure_collection("plankton", 256)
        await index.upsert("plankton", records(vectors))
        for i in range(0, 3000, 150):
            hits = await index.query("plankton", point_id=i, k=10)
            assert [h.id for h in hits] == exact(vectors, vectors[i], 11)[1:]
        batch = await index.query_batch("plankton", [IndexQuery(point_id=i, k=10) for i in (5, 6)])
        assert [[h.id for h in hits] for hits in batch] == [exact(vectors, vectors[i], 11)[1:]
                                                            for i in (5, 6)]
        member = index._collections["plankton"].members[0]
        assert not member.indexed
        assert await index.optimize("plankton")
        assert member.indexed  # from now on through the codes, rescored
    finally:
        await index.close()
