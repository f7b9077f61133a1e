"""DELETE /v1/collections/{name} (a retired model version's collection), on both backends: the
collection and its points go (on Edge its folder too, a pending build cancelled), it answers 404
from then on, and another collection is untouched."""

import pytest

from services.search.backends.edge import EdgeIndex
from tests.support.search import LOCAL_INDEX_WARNING, TEST_SHARD_POINTS, open_edge, unit_vectors

pytestmark = pytest.mark.filterwarnings(LOCAL_INDEX_WARNING)

DIM = 16


async def _fill(client, name: str, ids: list[int], seed: int) -> None:
    assert (await client.put(f"/v1/collections/{name}", json={"dim": DIM})).status_code == 200
    vectors = unit_vectors(len(ids), DIM, seed)
    body = {"points": [{"id": i, "vector": v.tolist(), "payload": {"label": "copepod"}}
                       for i, v in zip(ids, vectors, strict=True)]}
    answer = await client.put(f"/v1/collections/{name}/points", json=body)
    assert answer.status_code == 200, answer.text


async def test_a_dropped_collection_is_gone_and_another_is_untouched(client, backend):
    # Two shards in the dropped one; the kept one answers the same query before and after.
    await _fill(client, "retired", [1, 2, TEST_SHARD_POINTS + 1], seed=0)
    await _fill(client, "kept", [1, 2, 3], seed=1)
    query = {"vector": unit_vectors(1, DIM, 2)[0].tolist(), "k": 3}
    before = (await client.post("/v1/collections/kept/query", json=query)).json()
    if isinstance(backend, EdgeIndex):
        assert (backend.data_dir / "retired" / "collection.json").is_file()
        builder = backend._collections["retired"].builder
        assert builder is not None and not builder.done()  # waiting for quiet to build

    dropped = await client.delete("/v1/collections/retired")
    assert dropped.status_code == 200, dropped.text
    assert dropped.json() == {"name": "retired", "dropped": 3}
    for answer in (await client.get("/v1/collections/retired"),
                   await client.post("/v1/collections/retired/query", json=query),
                   await client.delete("/v1/collections/retired")):
        assert answer.status_code == 404 and "retired" in answer.json()["detail"]
    assert (await client.post("/v1/collections/kept/query", json=query)).json() == before
    assert (await client.get("/v1/collections/kept/count")).json() == {"count": 3}
    assert "retired" not in (await client.get("/health")).json().get("collections", [])
    if isinstance(backend, EdgeIndex):
        assert not (backend.data_dir / "retired").exists()
        assert builder.cancelled()
        # A re-queued version starts empty.
        assert (await client.put("/v1/collections/retired", json={"dim": DIM})).json() == {
            "name": "retired", "dim": DIM, "count": 0}


async def test_a_dropped_edge_collection_is_not_loaded_again(tmp_path):
    index = open_edge(tmp_path / "search")
    try:
        await index.ensure_collection("retired", DIM)
        await index.ensure_collection("kept", DIM)
        assert await index.drop_collection("retired") == 0
    finally:
        await index.close()
    reopened = open_edge(tmp_path / "search")
    try:
        assert (await reopened.health())["collections"] == ["kept"]
    finally:
        await reopened.close()
