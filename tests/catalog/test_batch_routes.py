"""Batch routes the ingest worker uses: contents looked up, images marked indexed and claimed items
with their bytes, each in one call per batch."""

import base64

from tests.support.catalog import add_items, empty_catalog, new_job, upload


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


async def test_claim_with_data_carries_each_items_staged_bytes(catalog, zoolake, catalog_database_url):
    try:
        job_id = await new_job(catalog)
        files = [(s.path.name, s.data) for s in zoolake[:3]]
        assert (await add_items(catalog, job_id, files)).status_code < 300
        claimed = (await catalog.client.post(
            "/v1/jobs/claim", json={"limit": 2, "lease_s": 60, "with_data": True})).json()["data"]
        sent = {s.sha256: s.data for s in zoolake[:3]}
        assert len(claimed) == 2
        assert all(base64.b64decode(item["data"]) == sent[item["sha256"]] for item in claimed)
        for path in catalog.staged_files():  # bytes gone from staging: None, the worker asks alone
            path.unlink()
        last = (await catalog.client.post(
            "/v1/jobs/claim", json={"lease_s": 60, "with_data": True})).json()["data"]
        assert [item["data"] for item in last] == [None]
        plain = (await catalog.client.post("/v1/jobs/claim", json={"lease_s": 60})).json()["data"]
        assert plain == []
    finally:
        await empty_catalog(catalog_database_url)
