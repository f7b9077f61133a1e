"""metric=hamming through the search service's real app, on real embeddings of ZooLake images:
the served ranking is the brute-force numpy Hamming ranking over the same codes (ties by id),
with and without the exact re-rank, on both backends."""

import json
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient, models

from nauplius.core.hamming import binary_codes, hamming_distances, hyperplanes
from services.embedder.model import Embedder
from services.search.backends.base import (
    COSINE_TIE_DECIMALS,
    HAMMING_BITS,
    HAMMING_SEED,
    VectorIndex,
)
from services.search.backends.qdrant_server import CollectionLayout, QdrantServerIndex
from services.search.main import create_app
from tests.support.data import zoolake_images
from tests.support.embedder import MODEL, bgr
from tests.support.search import LOCAL_INDEX_WARNING, open_edge, open_local_qdrant
from tests.support.service_key import SERVICE_HEADERS, SERVICE_KEY

pytestmark = pytest.mark.filterwarnings(LOCAL_INDEX_WARNING)

LABELS = ("daphnia", "asplanchna", "bosmina", "ceratium", "conochilus", "aphanizomenon")
PER_LABEL = 12
COLLECTION = "plankton"


@pytest.fixture(scope="module")
def embeddings() -> tuple[np.ndarray, list[str]]:
    """Real vectors of 72 ZooLake images (12 of 6 classes), plus three exact duplicates, whose
    codes tie with their originals' (distance 0) on purpose."""
    embedder = Embedder(MODEL, threads=2, batch_size=32)
    paths = [(label, path) for label in LABELS for path in zoolake_images(label, PER_LABEL)]
    vectors = embedder.embed_images([bgr(path) for _, path in paths])
    labels = [label for label, _ in paths]
    return np.concatenate([vectors, vectors[:3]]), labels + labels[:3]


@pytest.fixture
async def filled(client, embeddings):
    vectors, labels = embeddings
    await client.put(f"/v1/collections/{COLLECTION}", json={"dim": vectors.shape[1]})
    points = [{"id": i, "vector": v.tolist(), "payload": {"label": label}}
              for i, (v, label) in enumerate(zip(vectors, labels, strict=True))]
    response = await client.put(f"/v1/collections/{COLLECTION}/points", json={"points": points})
    assert response.status_code == 200, response.text
    return client


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int, rerank: int = 0,
                allowed: np.ndarray | None = None, exclude: int | None = None) -> list[tuple[int, float]]:
    """The k nearest (id, score) by Hamming distance over numpy's own codes, ties by id; with
    rerank N the max(k, N) nearest re-ordered by exact cosine (ties to 6 decimals by id)."""
    planes = hyperplanes(vectors.shape[1], HAMMING_BITS, HAMMING_SEED)
    distances = hamming_distances(binary_codes(query[None], planes), binary_codes(vectors, planes))[0]
    ids = np.arange(len(vectors))
    keep = np.ones(len(vectors), bool) if allowed is None else allowed.copy()
    if exclude is not None:
        keep[exclude] = False
    ids, distances = ids[keep], distances[keep]
    order = np.lexsort((ids, distances))[:max(k, rerank)]
    if not rerank:
        return [(int(ids[i]), float(np.cos(np.pi * distances[i] / HAMMING_BITS))) for i in order[:k]]
    cosines = vectors[ids[order]] @ query
    again = np.lexsort((ids[order], -np.round(cosines, COSINE_TIE_DECIMALS)))[:k]
    return [(int(ids[order][i]), float(cosines[i])) for i in again]


async def served(client, **body) -> list[tuple[int, float]]:
    response = await client.post(f"/v1/collections/{COLLECTION}/query", json=body)
    assert response.status_code == 200, response.text
    return [(hit["id"], hit["score"]) for hit in response.json()["data"]]


def assert_same(got: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    assert [i for i, _ in got] == [i for i, _ in expected]
    assert [s for _, s in got] == pytest.approx([s for _, s in expected], abs=1e-5)


@pytest.mark.parametrize("rerank", [0, 30])
async def test_hamming_ranking_is_the_brute_force_one(filled, embeddings, rerank):
    vectors, _ = embeddings
    for query_id in (0, 1, 20, 50):  # 0 and 1 have duplicates: a tie at distance 0
        by_id = await served(filled, id=query_id, k=10, metric="hamming", rerank=rerank)
        assert_same(by_id, brute_force(vectors, vectors[query_id], 10, rerank, exclude=query_id))
        by_vector = await served(filled, vector=vectors[query_id].tolist(), k=10, metric="hamming",
                                 rerank=rerank)
        assert_same(by_vector, brute_force(vectors, vectors[query_id], 10, rerank))
    if not rerank:  # its own duplicate first, then itself: distance 0 both, by id
        assert [i for i, _ in by_vector[:1]] == [50]
        assert [i for i, _ in (await served(filled, vector=vectors[0].tolist(), k=2,
                                            metric="hamming"))] == [0, len(vectors) - 3]


async def test_a_label_filter_still_applies(filled, embeddings):
    vectors, labels = embeddings
    bosmina = np.array([label == "bosmina" for label in labels])
    for rerank in (0, 15):
        hits = await served(filled, id=5, k=8, metric="hamming", rerank=rerank,
                            filter={"label": "bosmina"})
        assert_same(hits, brute_force(vectors, vectors[5], 8, rerank, allowed=bosmina, exclude=5))
        assert all(labels[i] == "bosmina" for i, _ in hits)


async def test_rerank_scores_are_the_exact_cosines_and_the_plain_ones_estimates(filled, embeddings):
    vectors, _ = embeddings
    plain = await served(filled, id=30, k=5, metric="hamming")
    cosine = dict(await served(filled, id=30, k=len(vectors), metric="cosine"))
    assert all(abs(score - cosine[i]) < 0.2 for i, score in plain)  # 512 bits estimate it closely
    reranked = await served(filled, id=30, k=5, metric="hamming", rerank=50)
    assert [s for _, s in reranked] == pytest.approx([cosine[i] for i, _ in reranked], abs=1e-5)
    assert [s for _, s in reranked] == sorted((s for _, s in reranked), reverse=True)


async def test_bad_metric_and_rerank_are_422_naming_the_problem(filled):
    bad = await filled.post(f"/v1/collections/{COLLECTION}/query",
                            json={"id": 0, "metric": "manhattan"})
    assert bad.status_code == 422
    assert all(name in bad.text for name in ("cosine", "euclidean", "hamming"))
    cosine_rerank = await filled.post(f"/v1/collections/{COLLECTION}/query",
                                      json={"id": 0, "metric": "cosine", "rerank": 10})
    assert cosine_rerank.status_code == 422 and "rerank" in cosine_rerank.text
    too_deep = await filled.post(f"/v1/collections/{COLLECTION}/query",
                                 json={"id": 0, "metric": "hamming", "rerank": 5000})
    assert too_deep.status_code == 422 and "rerank" in too_deep.text


async def test_the_codes_are_recorded_with_an_edge_collection(tmp_path):
    index = open_edge(tmp_path)
    try:
        await index.ensure_collection(COLLECTION, 16)
    finally:
        await index.close()
    meta = json.loads((tmp_path / COLLECTION / "collection.json").read_text())
    assert meta["hamming"] == {"bits": HAMMING_BITS, "seed": HAMMING_SEED}


@pytest.fixture(params=["edge", "qdrant-local", "qdrant-local-hamming-bits-0"])
async def old_collection(request, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    """The search app over a collection made as before the codes (one unnamed vector), or made
    with SEARCH_HAMMING_BITS=0."""
    index: VectorIndex
    if request.param == "edge":
        index = open_edge(tmp_path, hamming_bits=0)
        await index.ensure_collection(COLLECTION, 16)
    elif request.param == "qdrant-local-hamming-bits-0":
        index = QdrantServerIndex(client=AsyncQdrantClient(location=":memory:"),
                                  layout=CollectionLayout(quantization="none", hamming_bits=0))
        await index.ensure_collection(COLLECTION, 16)
    else:
        index = local = open_local_qdrant()
        await local.client.create_collection(COLLECTION, vectors_config=models.VectorParams(
            size=16, distance=models.Distance.COSINE))
    app = create_app(index=index, service_key=SERVICE_KEY)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://search",
            headers=SERVICE_HEADERS) as http:
        yield http


async def test_a_collection_without_codes_refuses_hamming_naming_the_fix(old_collection):
    vector = [1.0] + [0.0] * 15
    points = [{"id": 1, "vector": vector}, {"id": 2, "vector": vector[::-1]}]
    upserted = await old_collection.put(f"/v1/collections/{COLLECTION}/points", json={"points": points})
    assert upserted.status_code == 200, upserted.text
    assert [i for i, _ in await served(old_collection, vector=vector, k=1)] == [1]
    assert [i for i, _ in await served(old_collection, id=1, k=1)] == [2]
    refused = await old_collection.post(f"/v1/collections/{COLLECTION}/query",
                                        json={"vector": vector, "metric": "hamming"})
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "without binary codes" in detail and "nauplius reconcile --repair" in detail


async def test_ties_at_the_cut_are_settled_by_id_whatever_the_backend_returns(client):
    """40 identical points, written in shuffled id order, tie at distance 0: the 5 asked are the
    5 smallest ids (the search widens until the whole tied group is in), on both backends."""
    ids = [int(i) for i in np.random.default_rng(3).permutation(np.arange(100, 140))]
    vector = np.ones(16) / 4.0
    await client.put(f"/v1/collections/{COLLECTION}", json={"dim": 16})
    for i in ids:  # one at a time: a backend that keeps insertion order lists them shuffled
        points = [{"id": i, "vector": vector.tolist()}]
        await client.put(f"/v1/collections/{COLLECTION}/points", json={"points": points})
    hits = await served(client, vector=vector.tolist(), k=5, metric="hamming")
    assert hits == [(i, pytest.approx(1.0)) for i in range(100, 105)]
    by_id = await served(client, id=ids[0], k=5, metric="hamming", rerank=7)
    assert [i for i, _ in by_id] == [i for i in range(100, 106) if i != ids[0]][:5]


async def test_a_batch_answers_hamming_queries_as_the_single_route(filled, embeddings):
    vectors, _ = embeddings
    queries = [{"id": 4, "k": 6, "metric": "hamming"},
               {"vector": vectors[9].tolist(), "k": 6, "metric": "hamming", "rerank": 20},
               {"id": 4, "k": 6}]
    batch = await filled.post(f"/v1/collections/{COLLECTION}/query/batch", json={"queries": queries})
    assert batch.status_code == 200, batch.text
    singles = [await served(filled, **query) for query in queries]
    for hits, single in zip(batch.json()["data"], singles, strict=True):
        assert_same([(h["id"], h["score"]) for h in hits], single)
