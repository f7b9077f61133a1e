"""metric=hamming through the gateway, against the real embedder, search and catalog apps: the
similar-images and search-by-upload routes rank by Hamming distance, re-rank on request, keep
their label filter, and refuse a bad metric or rerank with a 422 naming it."""

import httpx
import pytest

from tests.support.data import zoolake_images

Stack = tuple[httpx.AsyncClient, httpx.AsyncClient]


async def test_similar_and_search_by_hamming(stack: Stack) -> None:
    gw, _ = stack
    daphnia, rotifers = zoolake_images("daphnia", 4), zoolake_images("asplanchna", 4)
    ids = {}
    for label, paths in (("daphnia", daphnia), ("asplanchna", rotifers)):
        files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
        stored = await gw.post("/api/v1/images", files=files, data={"label": label})
        assert stored.status_code == 200, stored.text
        ids[label] = [entry["id"] for entry in stored.json()["data"]]
    query = ids["daphnia"][0]

    cosine = (await gw.get(f"/api/v1/images/{query}/similar", params={"k": 7})).json()["data"]
    hamming = (await gw.get(f"/api/v1/images/{query}/similar",
                            params={"k": 7, "metric": "hamming"})).json()["data"]
    assert len(hamming) == 7 and query not in [n["id"] for n in hamming]
    assert [n["score"] for n in hamming] == sorted((n["score"] for n in hamming), reverse=True)
    exact = {n["id"]: n["score"] for n in cosine}
    assert all(abs(n["score"] - exact[n["id"]]) < 0.2 for n in hamming)  # estimated cosines
    reranked = (await gw.get(f"/api/v1/images/{query}/similar",
                             params={"k": 7, "metric": "hamming", "rerank": 7})).json()["data"]
    assert reranked == cosine  # all 7 re-ordered by exact cosine: the cosine answer
    only = (await gw.get(f"/api/v1/images/{query}/similar",
                         params={"metric": "hamming", "label": "asplanchna"})).json()["data"]
    assert sorted(n["id"] for n in only) == sorted(ids["asplanchna"])

    upload = await gw.post("/api/v1/search", params={"k": 1, "metric": "hamming"},
                           files={"file": ("q.jpeg", rotifers[2].read_bytes(), "image/jpeg")})
    [best] = upload.json()["data"]
    assert best["id"] == ids["asplanchna"][2] and best["score"] == pytest.approx(1.0)


@pytest.mark.parametrize(("params", "named"), [
    ({"metric": "manhattan"}, ["cosine", "euclidean", "hamming"]),
    ({"metric": "cosine", "rerank": 10}, ["rerank", "hamming"]),
    ({"metric": "hamming", "rerank": -1}, ["rerank"]),
])
async def test_a_bad_metric_or_rerank_is_422_naming_it(stack: Stack, params, named) -> None:
    gw, _ = stack
    [path] = zoolake_images("daphnia", 1)
    stored = await gw.post("/api/v1/images", files=[("files", (path.name, path.read_bytes(), "image/jpeg"))])
    image_id = stored.json()["data"][0]["id"]
    similar = await gw.get(f"/api/v1/images/{image_id}/similar", params=params)
    search = await gw.post("/api/v1/search", params=params,
                           files={"file": ("q.jpeg", path.read_bytes(), "image/jpeg")})
    for response in (similar, search):
        assert response.status_code == 422
        assert all(word in response.text for word in named), response.text
