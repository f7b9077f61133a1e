"""The HTTP contract of the search service, run against both backends."""

import base64
import math

import numpy as np
import pytest

from tests.support.search import LOCAL_INDEX_WARNING, unit_vectors

pytestmark = pytest.mark.filterwarnings(LOCAL_INDEX_WARNING)

DIM = 32
LABELS = ["copepod", "diatom", "detritus"]


def points(vectors: np.ndarray, start: int = 0) -> list[dict]:
    return [
        {
            "id": start + i,
            "vector": v.tolist(),
            "payload": {"label": LABELS[i % 3], "state": "validated" if i % 2 else "predicted",
                        "instrument": "ifcb", "sample": f"s{i % 4}"},
        }
        for i, v in enumerate(vectors)
    ]


async def make_collection(client, n: int = 60, name: str = "plankton", dim: int = DIM, seed: int = 0):
    vectors = unit_vectors(n, dim, seed)
    assert (await client.put(f"/v1/collections/{name}", json={"dim": dim})).status_code == 200
    r = await client.put(f"/v1/collections/{name}/points", json={"points": points(vectors)})
    assert r.status_code == 200, r.text
    assert r.json() == {"upserted": n}
    return vectors


async def test_health(client):
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["service"] == "search"


async def test_create_collection_is_idempotent_and_refuses_another_dim(client):
    r = await client.put("/v1/collections/plankton", json={"dim": DIM})
    assert r.json() == {"name": "plankton", "dim": DIM, "count": 0}
    assert (await client.put("/v1/collections/plankton", json={"dim": DIM})).status_code == 200
    r = await client.put("/v1/collections/plankton", json={"dim": DIM + 1})
    assert r.status_code == 409
    assert "dimension 32" in r.json()["detail"]


async def test_unknown_collection_is_404(client):
    for r in [
        await client.get("/v1/collections/nope"),
        await client.get("/v1/collections/nope/count"),
        await client.post("/v1/collections/nope/query", json={"vector": [1.0] * DIM}),
        await client.put("/v1/collections/nope/points", json={"points": []}),
    ]:
        assert r.status_code == 404
        assert "'nope' not found" in r.json()["detail"]


async def test_bad_collection_name_is_refused(client):
    r = await client.put("/v1/collections/Bad.Name", json={"dim": DIM})
    assert r.status_code == 422


async def test_upsert_count_and_info(client):
    await make_collection(client, n=60)
    assert (await client.get("/v1/collections/plankton/count")).json() == {"count": 60}
    info = (await client.get("/v1/collections/plankton")).json()
    assert info == {"name": "plankton", "dim": DIM, "count": 60}


async def test_wrong_dimension_upsert_stores_nothing(client):
    await make_collection(client, n=10)
    good = unit_vectors(3, DIM, seed=5)
    batch = points(good, start=100)
    batch[2]["vector"] = batch[2]["vector"][:-1]
    r = await client.put("/v1/collections/plankton/points", json={"points": batch})
    assert r.status_code == 422
    assert "point 102" in r.json()["detail"] and "dimension 31" in r.json()["detail"]
    assert (await client.get("/v1/collections/plankton/count")).json() == {"count": 10}
    r = await client.post("/v1/collections/plankton/query", json={"id": 100})
    assert r.status_code == 404


async def test_vectors_may_come_as_float32_base64(client):
    await make_collection(client, n=10)
    vectors = unit_vectors(2, DIM, seed=7)
    batch = [{"id": 200 + i, "vector_b64": base64.b64encode(v.astype("<f4").tobytes()).decode()}
             for i, v in enumerate(vectors)]
    r = await client.put("/v1/collections/plankton/points", json={"points": batch})
    assert r.status_code == 200, r.text
    hit = (await client.post("/v1/collections/plankton/query",
                             json={"vector": vectors[1].tolist(), "k": 1})).json()
    assert hit["data"][0]["id"] == 201
    nan = base64.b64encode(np.full(DIM, np.nan, "<f4").tobytes()).decode()
    for bad, problem in [({"vector_b64": "not base64!"}, "base64"),
                         ({"vector_b64": base64.b64encode(b"abc").decode()}, "float32"),
                         ({"vector_b64": nan}, "NaN"),
                         ({"vector_b64": batch[0]["vector_b64"], "vector": [1.0] * DIM}, "exactly one"),
                         ({}, "exactly one")]:
        r = await client.put("/v1/collections/plankton/points", json={"points": [{"id": 300, **bad}]})
        assert r.status_code == 422 and problem in r.text, (bad, r.text)
    assert (await client.get("/v1/collections/plankton/count")).json() == {"count": 12}


async def test_zero_vector_and_wrong_query_dim_are_refused(client):
    await make_collection(client, n=5)
    r = await client.put("/v1/collections/plankton/points",
                         json={"points": [{"id": 9, "vector": [0.0] * DIM}]})
    assert r.status_code == 422 and "all zeros" in r.json()["detail"]
    r = await client.post("/v1/collections/plankton/query", json={"vector": [1.0] * (DIM + 3)})
    assert r.status_code == 422 and "dimension 35" in r.json()["detail"]
    r = await client.post("/v1/collections/plankton/query", json={"vector": [1.0] * DIM, "id": 1})
    assert r.status_code == 422


async def test_cosine_query_matches_numpy(client):
    vectors = await make_collection(client, n=60)
    q = unit_vectors(1, DIM, seed=99)[0]
    r = await client.post("/v1/collections/plankton/query", json={"vector": q.tolist(), "k": 5})
    data = r.json()["data"]
    expected = np.argsort(-(vectors @ q))[:5]
    assert [d["id"] for d in data] == expected.tolist()
    assert [d["score"] for d in data] == pytest.approx((vectors @ q)[expected].tolist(), abs=1e-4)
    assert data[0]["payload"]["label"] == LABELS[expected[0] % 3]


async def test_euclidean_is_true_distance_in_same_order(client):
    vectors = await make_collection(client, n=60)
    q = unit_vectors(1, DIM, seed=7)[0]
    cos = (await client.post("/v1/collections/plankton/query",
                             json={"vector": q.tolist(), "k": 8})).json()["data"]
    euc = (await client.post("/v1/collections/plankton/query",
                             json={"vector": q.tolist(), "k": 8, "metric": "euclidean"})).json()["data"]
    assert [d["id"] for d in euc] == [d["id"] for d in cos]
    scores = [d["score"] for d in euc]
    assert scores == sorted(scores)
    true = [float(np.linalg.norm(vectors[d["id"]] - q)) for d in euc]
    assert scores == pytest.approx(true, abs=1e-4)
    assert all(math.isclose(e, math.sqrt(2 - 2 * c["score"]), abs_tol=1e-6)
               for e, c in zip(scores, cos, strict=True))


async def test_query_by_id_excludes_itself(client):
    vectors = await make_collection(client, n=60)
    r = await client.post("/v1/collections/plankton/query", json={"id": 7, "k": 5})
    ids = [d["id"] for d in r.json()["data"]]
    assert 7 not in ids and len(ids) == 5
    assert ids == np.argsort(-(vectors @ vectors[7]))[1:6].tolist()
    assert (await client.post("/v1/collections/plankton/query", json={"id": 999})).status_code == 404


async def test_filters_are_exact_matches(client):
    await make_collection(client, n=60)
    q = unit_vectors(1, DIM, seed=3)[0]
    flt = {"label": "diatom", "state": "validated"}
    r = await client.post("/v1/collections/plankton/query",
                          json={"vector": q.tolist(), "k": 100, "filter": flt})
    data = r.json()["data"]
    allowed = [i for i in range(60) if LABELS[i % 3] == "diatom" and i % 2]
    assert sorted(d["id"] for d in data) == allowed
    assert all(d["payload"]["label"] == "diatom" and d["payload"]["state"] == "validated" for d in data)
    r = await client.post("/v1/collections/plankton/query",
                          json={"vector": q.tolist(), "filter": {"label": "no-such-taxon"}})
    assert r.json() == {"data": []}
    r = await client.post("/v1/collections/plankton/query",
                          json={"vector": q.tolist(), "filter": {"colour": "red"}})
    assert r.status_code == 422


async def test_delete(client):
    vectors = await make_collection(client, n=20)
    r = await client.post("/v1/collections/plankton/points/delete", json={"ids": [0, 1, 2, 500]})
    assert r.json() == {"deleted": 3}
    assert (await client.get("/v1/collections/plankton/count")).json() == {"count": 17}
    r = await client.post("/v1/collections/plankton/query", json={"vector": vectors[1].tolist(), "k": 20})
    assert {0, 1, 2}.isdisjoint(d["id"] for d in r.json()["data"])
    assert (await client.post("/v1/collections/plankton/query", json={"id": 1})).status_code == 404


async def test_set_payload_merges(client):
    vectors = await make_collection(client, n=20)
    r = await client.post("/v1/collections/plankton/points/payload",
                          json={"ids": [4, 5, 777], "payload": {"label": "ciliate", "state": "validated"}})
    assert r.json() == {"updated": 2}
    r = await client.post("/v1/collections/plankton/query",
                          json={"vector": vectors[4].tolist(), "k": 20, "filter": {"label": "ciliate"}})
    data = r.json()["data"]
    assert sorted(d["id"] for d in data) == [4, 5]
    # keys not named in the update are kept
    assert all(d["payload"]["instrument"] == "ifcb" and d["payload"]["sample"] for d in data)
    assert (await client.get("/v1/collections/plankton/count")).json() == {"count": 20}


async def test_upsert_replaces_vector_and_payload(client):
    vectors = await make_collection(client, n=10)
    new = unit_vectors(1, DIM, seed=42)[0]
    r = await client.put("/v1/collections/plankton/points",
                         json={"points": [{"id": 3, "vector": new.tolist(), "payload": {"label": "egg"}}]})
    assert r.status_code == 200
    assert (await client.get("/v1/collections/plankton/count")).json() == {"count": 10}
    data = (await client.post("/v1/collections/plankton/query",
                              json={"vector": new.tolist(), "k": 1})).json()["data"]
    assert data[0]["id"] == 3 and data[0]["payload"] == {"label": "egg"}
    assert data[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert not np.allclose(vectors[3], new)


async def test_model_sized_vectors(client):
    vectors = await make_collection(client, n=8, name="efficientnet-lite0", dim=1280, seed=1)
    r = await client.post("/v1/collections/efficientnet-lite0/query", json={"id": 2, "k": 3})
    ids = [d["id"] for d in r.json()["data"]]
    assert ids == np.argsort(-(vectors @ vectors[2]))[1:4].tolist()


async def test_scroll_pages_every_point_in_id_order_without_vectors(client):
    await client.put("/v1/collections/plankton", json={"dim": DIM})
    ids = [2**62, 17, 3, 40, 8, 0, 1000, 5, 21]
    batch = points(unit_vectors(len(ids), DIM, seed=4))
    for point, point_id in zip(batch, ids, strict=True):
        point["id"] = point_id
    await client.put("/v1/collections/plankton/points", json={"points": batch})
    await client.post("/v1/collections/plankton/points/delete", json={"ids": [40]})
    payloads = {p["id"]: p["payload"] for p in batch if p["id"] != 40}
    pages, after = [], None
    while True:
        r = await client.post("/v1/collections/plankton/points/scroll",
                              json={"after_id": after, "limit": 4})
        assert r.status_code == 200, r.text
        pages.append(r.json())
        after = r.json()["next_after_id"]
        if after is None:
            break
        assert after == r.json()["data"][-1]["id"]
    # 8 points in pages of 4: the second page is full and also the last
    assert [len(page["data"]) for page in pages] == [4, 4]
    scrolled = [point for page in pages for point in page["data"]]
    assert [p["id"] for p in scrolled] == sorted(payloads)
    assert all(p == {"id": p["id"], "payload": payloads[p["id"]]} for p in scrolled)


async def test_scroll_limits_and_an_empty_collection(client):
    await client.put("/v1/collections/plankton", json={"dim": DIM})
    url = "/v1/collections/plankton/points/scroll"
    assert (await client.post(url, json={"limit": 10})).json() == {"data": [], "next_after_id": None}
    for bad in [{"limit": 0}, {"limit": 10_001}, {"after_id": -1, "limit": 5}, {"offset": 3}]:
        assert (await client.post(url, json=bad)).status_code == 422, bad
    assert (await client.post("/v1/collections/nope/points/scroll", json={"limit": 5})).status_code == 404


async def test_retrieve_answers_the_ids_that_exist_in_the_order_asked(client):
    await make_collection(client, n=10)
    url = "/v1/collections/plankton/points/retrieve"
    stored = points(unit_vectors(10, DIM))
    r = await client.post(url, json={"ids": [7, 999, 2, 7]})
    assert r.status_code == 200, r.text
    assert r.json() == {"data": [{"id": i, "payload": stored[i]["payload"]} for i in (7, 2)]}
    assert (await client.post(url, json={"ids": []})).json() == {"data": []}
    assert (await client.post(url, json={"ids": list(range(10_001))})).status_code == 422
    assert (await client.post("/v1/collections/nope/points/retrieve", json={"ids": [1]})).status_code == 404


async def test_vectors_answers_the_stored_embeddings_of_the_ids_that_exist(client):
    await make_collection(client, n=10)
    url = "/v1/collections/plankton/points/vectors"
    vectors = unit_vectors(10, DIM)
    r = await client.post(url, json={"ids": [7, 999, 2, 7]})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [p["id"] for p in data] == [7, 2]
    for point in data:
        assert np.allclose(point["vector"], vectors[point["id"]], atol=1e-6)
    assert (await client.post(url, json={"ids": list(range(1001))})).status_code == 422
    assert (await client.post("/v1/collections/nope/points/vectors", json={"ids": [1]})).status_code == 404


async def test_a_nan_in_a_refused_body_is_a_422_not_a_500(client):
    """FastAPI's own 422 echoes the input, and a NaN has no JSON form: the shared handler
    (nauplius.core.request_errors) writes it as text."""
    answer = await client.put("/v1/collections/c", content=b'{"dim": NaN}',
                              headers={"content-type": "application/json"})
    assert answer.status_code == 422 and answer.json()["detail"], answer.text
