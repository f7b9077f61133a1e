"""POST /v1/collections/{name}/query/batch: each query answered exactly as the single query
route answers it, on both backends, and the batch cap."""

import httpx
import pytest

from nauplius.core.clients.search import SearchClient
from nauplius.core.contracts.search import QueryFilter, QueryRequest
from services.search.config import SearchSettings
from services.search.main import create_app
from tests.support.search import LOCAL_INDEX_WARNING, open_edge, unit_vectors
from tests.support.service_key import SERVICE_HEADERS, SERVICE_KEY

pytestmark = pytest.mark.filterwarnings(LOCAL_INDEX_WARNING)

DIM = 32
N = 300
FILTERS = [None, {"label": "copepod"}, {"label": "diatom", "state": "validated"},
           {"instrument": "ifcb", "sample": "s2"}, {"state": "validated", "project": ["1", "3"]}]


def payload(i: int) -> dict:
    return {"label": ["copepod", "diatom", "detritus", "ciliate"][i % 4],
            "state": "validated" if i % 3 == 0 else "predicted",
            "instrument": "ifcb" if i % 2 else "uvp", "sample": f"s{i % 5}", "project": str(i % 4)}


async def fill(client: httpx.AsyncClient, n: int = N, dim: int = DIM) -> None:
    vectors = unit_vectors(n, dim, seed=21)
    vectors[n - 4:] = vectors[:4]  # exact duplicates: tied scores on purpose
    assert (await client.put("/v1/collections/plankton", json={"dim": dim})).status_code == 200
    body = {"points": [{"id": i, "vector": v.tolist(), "payload": payload(i)}
                       for i, v in enumerate(vectors)]}
    assert (await client.put("/v1/collections/plankton/points", json=body)).status_code == 200


def queries(dim: int = DIM) -> list[dict]:
    """By vector and by stored id (tied duplicates among them), every filter, both metrics, a few k."""
    found = []
    for n, flt in enumerate(FILTERS):
        for metric in ("cosine", "euclidean"):
            for q in unit_vectors(3, dim, seed=30 + n):
                found.append({"vector": q.tolist(), "k": 7, "metric": metric, "filter": flt})
            for point_id in (0, 1, 150, N - 1):
                found.append({"id": point_id, "k": [1, 10, 40][point_id % 3], "metric": metric,
                              "filter": flt})
    return [{key: value for key, value in q.items() if value is not None} for q in found]


def assert_same(batch: list[list[dict]], singles: list[list[dict]]) -> None:
    """The same hits in the same order with the same payloads; scores equal to float precision
    (qdrant-client's local mode answers one query's scores a few 1e-8 apart from one call to
    the next)."""
    assert len(batch) == len(singles)
    for got, expected in zip(batch, singles, strict=True):
        assert [(h["id"], h["payload"]) for h in got] == [(h["id"], h["payload"]) for h in expected]
        assert [h["score"] for h in got] == pytest.approx([h["score"] for h in expected], abs=1e-6)


async def singles(client: httpx.AsyncClient, asked: list[dict]) -> list[list[dict]]:
    answers = []
    for query in asked:
        answer = await client.post("/v1/collections/plankton/query", json=query)
        assert answer.status_code == 200, answer.text
        answers.append(answer.json()["data"])
    return answers


async def test_a_batch_answers_each_query_as_the_single_route_does(client):
    await fill(client)
    asked = queries()
    batch = await client.post("/v1/collections/plankton/query/batch", json={"queries": asked})
    assert batch.status_code == 200, batch.text
    answers = batch.json()["data"]
    assert_same(answers, await singles(client, asked))
    assert [len(a) for a in answers] == [min(q["k"], len(a)) for q, a in zip(asked, answers, strict=True)]
    assert all(q.get("id") not in {h["id"] for h in a} for q, a in zip(asked, answers, strict=True))


async def test_a_batch_over_the_hnsw_index_answers_as_the_single_route(tmp_path):
    """Edge with its HNSW index built (a segment over the threshold), 1280-d as the model's."""
    index = open_edge(tmp_path / "search", indexing_threshold_kb=100)
    app = create_app(index=index, service_key=SERVICE_KEY)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://search",
            headers=SERVICE_HEADERS) as client:
        await fill(client, n=400, dim=1280)
        await index.optimize("plankton")
        assert (await index.index_status("plankton"))["indexed"] > 0
        asked = queries(dim=1280)
        batch = await client.post("/v1/collections/plankton/query/batch", json={"queries": asked})
        assert batch.status_code == 200, batch.text
        assert batch.json()["data"] == await singles(client, asked)  # Edge: exactly


async def test_the_client_splits_a_long_batch_and_keeps_the_order(client):
    await fill(client)
    search = SearchClient(client, "http://search", SERVICE_KEY)
    asked = [QueryRequest(id=i, k=5, filter=QueryFilter(state="validated")) for i in range(N)]
    answers = await search.query_batch("plankton", asked)  # 300 queries: two requests
    assert len(answers) == N
    for i in (0, 7, 255, 256, N - 1):
        single = await search.query("plankton", k=5, metric="cosine", image_id=i,
                                    filter={"state": "validated"})
        assert_same([[h.model_dump() for h in answers[i]]], [[h.model_dump() for h in single]])


async def test_an_empty_batch_is_an_empty_answer(client):
    await fill(client, n=10)
    answer = await client.post("/v1/collections/plankton/query/batch", json={"queries": []})
    assert answer.status_code == 200 and answer.json() == {"data": []}


async def test_a_batch_over_the_cap_is_a_422_naming_it(tmp_path):
    app = create_app(SearchSettings(max_batch_queries=3), index=open_edge(tmp_path / "search"),
                     service_key=SERVICE_KEY)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://search",
            headers=SERVICE_HEADERS) as client:
        await fill(client, n=10)
        three = [{"id": i} for i in range(3)]
        assert (await client.post("/v1/collections/plankton/query/batch",
                                  json={"queries": three})).status_code == 200
        answer = await client.post("/v1/collections/plankton/query/batch",
                                   json={"queries": [*three, {"id": 3}]})
        assert answer.status_code == 422
        assert answer.json()["detail"] == ("a batch holds at most 3 queries "
                                           "(SEARCH_MAX_BATCH_QUERIES); this one holds 4")


async def test_one_bad_query_refuses_the_batch_naming_it(client):
    await fill(client, n=10)
    url = "/v1/collections/plankton/query/batch"
    missing = await client.post(url, json={"queries": [{"id": 1}, {"id": 99}]})
    assert missing.status_code == 404
    assert "point 99 not found" in missing.json()["detail"]
    short = await client.post(url, json={"queries": [{"id": 1}, {"vector": [1.0, 0.0]}]})
    assert short.status_code == 422
    assert "dimension 2" in short.json()["detail"]
    both = await client.post(url, json={"queries": [{"id": 1, "vector": [1.0] * DIM}]})
    assert both.status_code == 422
    assert "exactly one of 'vector' or 'id'" in str(both.json()["detail"])
    unknown = await client.post("/v1/collections/nope/query/batch", json={"queries": [{"id": 1}]})
    assert unknown.status_code == 404
