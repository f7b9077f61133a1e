"""POST /v1/collections/{name}/recommend on both backends: a negative pushes its own neighbours
below the positive's, the examples are never answered, unknown examples and too many are
refused."""

import httpx
import numpy as np
import pytest

from nauplius.core.clients.search import SearchClient
from tests.support.search import LOCAL_INDEX_WARNING, TEST_SHARD_POINTS
from tests.support.service_key import SERVICE_KEY

pytestmark = pytest.mark.filterwarnings(LOCAL_INDEX_WARNING)

DIM = 16
POSITIVE, NEGATIVE = 0, TEST_SHARD_POINTS + 1  # in two different Edge shards
POSITIVE_NEIGHBOURS = range(100, 120)
NEGATIVE_NEIGHBOURS = range(TEST_SHARD_POINTS + 100, TEST_SHARD_POINTS + 120)


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def constructed_points() -> list[dict]:
    """The negative lies close to the positive (cos 0.89); its neighbours are closer to the
    positive (cos ~0.89) than the positive's own neighbours are (cos ~0.82), so a plain nearest
    query by the positive ranks the negative's neighbours first."""
    rng = np.random.default_rng(5)
    e0, e1 = np.eye(DIM)[0], np.eye(DIM)[1]
    negative = unit(e0 + 0.5 * e1)

    def off_axes(scale: float) -> np.ndarray:
        u = rng.normal(size=DIM)
        u[:2] = 0
        return scale * unit(u)

    vectors = {POSITIVE: e0, NEGATIVE: negative}
    vectors |= {i: unit(e0 + off_axes(0.7)) for i in POSITIVE_NEIGHBOURS}
    vectors |= {i: unit(negative + off_axes(0.1)) for i in NEGATIVE_NEIGHBOURS}
    vectors |= {i: unit(rng.normal(size=DIM)) for i in range(200, 260)}  # unrelated
    return [{"id": i, "vector": v.tolist(), "payload": {"label": "copepod" if i % 2 else "diatom"}}
            for i, v in vectors.items()]


async def fill(client: httpx.AsyncClient) -> None:
    assert (await client.put("/v1/collections/plankton", json={"dim": DIM})).status_code == 200
    answer = await client.put("/v1/collections/plankton/points", json={"points": constructed_points()})
    assert answer.status_code == 200


async def test_a_negative_ranks_its_neighbours_below_the_positives(client):
    await fill(client)
    plain = (await client.post("/v1/collections/plankton/query",
                               json={"id": POSITIVE, "k": 20})).json()["data"]
    assert {h["id"] for h in plain} <= set(NEGATIVE_NEIGHBOURS) | {NEGATIVE}  # without negatives

    answer = await client.post("/v1/collections/plankton/recommend", json={
        "positive_ids": [POSITIVE], "negative_ids": [NEGATIVE], "k": 40})
    assert answer.status_code == 200, answer.text
    ranked = [h["id"] for h in answer.json()["data"]]
    assert ranked[:20] and set(ranked[:20]) == set(POSITIVE_NEIGHBOURS)
    last_positive = max(ranked.index(i) for i in POSITIVE_NEIGHBOURS)
    assert all(ranked.index(i) > last_positive for i in NEGATIVE_NEIGHBOURS if i in ranked)
    assert POSITIVE not in ranked and NEGATIVE not in ranked
    scores = [h["score"] for h in answer.json()["data"]]
    assert scores == sorted(scores, reverse=True)


async def test_filters_apply_and_the_client_answers_hits(client):
    await fill(client)
    search = SearchClient(client, "http://search", service_key=SERVICE_KEY)
    hits = await search.recommend("plankton", positive_ids=[POSITIVE], negative_ids=[NEGATIVE],
                                  k=10, filter={"label": "copepod"})
    assert len(hits) == 10 and all(h.payload["label"] == "copepod" for h in hits)
    assert set(h.id for h in hits) <= set(POSITIVE_NEIGHBOURS)
    assert await search.recommend("plankton", positive_ids=[POSITIVE], projects=[]) == []


async def test_unknown_examples_are_named(client):
    await fill(client)
    answer = await client.post("/v1/collections/plankton/recommend", json={
        "positive_ids": [POSITIVE, 777], "negative_ids": [888]})
    assert answer.status_code == 404
    assert "[777, 888]" in answer.json()["detail"]


@pytest.mark.parametrize("body, named", [
    ({"positive_ids": list(range(51))}, "positive_ids"),
    ({"positive_ids": [POSITIVE], "negative_ids": list(range(300, 351))}, "negative_ids"),
    ({"positive_ids": []}, "positive_ids"),
    ({"positive_ids": [POSITIVE], "strategy": "sum"}, "strategy"),
])
async def test_bad_examples_are_refused(client, body, named):
    await fill(client)
    answer = await client.post("/v1/collections/plankton/recommend", json=body)
    assert answer.status_code == 422
    assert named in answer.text
