"""The gateway's near-duplicate routes over the in-process system (keys on, admin key): a pair
with both images' URLs, merge and its refusals by name. The flag is written as the worker writes
it (its check is tested through the real ingest path in tests/worker/test_near_duplicates.py)."""

import httpx

from tests.support.data import zoolake_images


async def test_a_pair_is_listed_with_its_images_and_merged_once(
    stack: tuple[httpx.AsyncClient, httpx.AsyncClient],
):
    gateway, catalog = stack
    paths = zoolake_images("daphnia", 2)
    stored = await gateway.post("/api/v1/images", files=[("files", (p.name, p.read_bytes())) for p in paths])
    assert stored.status_code == 200, stored.text
    first, second = (entry["id"] for entry in stored.json()["data"])
    flag = await catalog.post("/v1/duplicates",
                              json={"data": [{"image_id": second, "of_image_id": first, "cosine": 0.975}]})
    assert flag.json() == {"flagged": 1}, flag.text

    page = await gateway.get("/api/v1/duplicates")
    assert page.status_code == 200, page.text
    assert (page.json()["count"], page.json()["more"]) == (1, False)
    [pair] = page.json()["data"]
    assert pair["image"]["thumbnail_url"] == f"/api/v1/images/{second}/thumbnail"
    assert pair["of_image"]["file_url"] == f"/api/v1/images/{first}/file"
    assert (pair["cosine"], pair["status"]) == (0.975, "open")

    def neighbours(answer: httpx.Response) -> list[int]:
        assert answer.status_code == 200, answer.text
        return [hit["id"] for hit in answer.json()["data"]]

    assert second in neighbours(await gateway.get(f"/api/v1/images/{first}/similar"))
    merged = await gateway.post(f"/api/v1/duplicates/{second}/merge")
    assert merged.status_code == 200, merged.text
    assert second not in neighbours(await gateway.get(f"/api/v1/images/{first}/similar"))
    assert (merged.json()["kept_id"], merged.json()["merged_id"]) == (first, second)
    listed = await gateway.get("/api/v1/images")
    assert [image["id"] for image in listed.json()["data"]] == [first]
    assert (await gateway.get("/api/v1/duplicates")).json()["count"] == 0
    settled = (await gateway.get("/api/v1/duplicates", params={"status": "merged"})).json()
    assert [p["image"]["id"] for p in settled["data"]] == [second]

    for url, status, words in ((f"/api/v1/duplicates/{second}/merge", 409, "already merged"),
                               (f"/api/v1/duplicates/{second}/dismiss", 409, "already merged"),
                               (f"/api/v1/duplicates/{first}/merge", 404, "not flagged")):
        answer = await gateway.post(url)
        assert answer.status_code == status and words in answer.json()["detail"], answer.text
    for params in ({"limit": 0}, {"limit": 500}, {"status": "closed"}, {"offset": -1}):
        answer = await gateway.get("/api/v1/duplicates", params=params)
        assert answer.status_code == 422, (params, answer.text)
