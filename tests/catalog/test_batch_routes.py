"""Batch routes the ingest pipeline uses: contents looked up and images marked indexed in one call."""

from tests.catalog.test_routes import upload


async def test_lookup_by_sha256_keeps_order_and_leaves_out_unknown(catalog, zoolake):
    ids = [(await upload(catalog.client, s)).json()["id"] for s in zoolake[:3]]
    asked = [zoolake[2].sha256, "0" * 64, zoolake[0].sha256.upper(), zoolake[2].sha256]
    response = await catalog.client.post("/v1/images/by-sha256", json={"sha256": asked})
    assert response.status_code == 200, response.text
    assert [image["id"] for image in response.json()["data"]] == [ids[2], ids[0]]
    assert (await catalog.client.post("/v1/images/by-sha256", json={"sha256": []})).json() == {"data": []}


async def test_lookup_by_sha256_names_a_malformed_hash(catalog):
    response = await catalog.client.post("/v1/images/by-sha256", json={"sha256": ["a" * 64, "xyz"]})
    assert response.status_code == 422
    assert "xyz" in response.text and "64 hexadecimal" in response.text


async def test_mark_indexed_many_marks_only_the_given_existing_images(catalog, zoolake):
    ids = [(await upload(catalog.client, s)).json()["id"] for s in zoolake[:3]]
    response = await catalog.client.post(
        "/v1/images/indexed", json={"ids": [ids[0], ids[2], 987654], "model": "efficientnet-lite0"})
    assert response.json() == {"updated": 2}
    looked_up = (await catalog.client.post("/v1/images/lookup", json={"ids": ids})).json()["data"]
    assert [image["indexed_model"] for image in looked_up] == ["efficientnet-lite0", None,
                                                              "efficientnet-lite0"]
    bad = await catalog.client.post("/v1/images/indexed", json={"ids": ids, "model": "Bad Name"})
    assert bad.status_code == 422
