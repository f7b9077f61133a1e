"""Values PostgreSQL cannot take are the caller's 422, never the catalog's 500 (found by the
OpenAPI fuzzing: ids one past the int64 range)."""

from tests.support.catalog import Catalog

PAST_INT64 = 2**63


async def test_an_id_past_int64_is_a_422_naming_the_value(catalog: Catalog):
    answer = await catalog.client.get(f"/v1/images/{PAST_INT64}")
    assert answer.status_code == 422
    assert str(PAST_INT64) in answer.json()["detail"]


async def test_a_batch_naming_an_id_past_int64_is_a_422_and_changes_nothing(catalog: Catalog, zoolake):
    stored = (await catalog.client.post(
        "/v1/images", files={"file": (zoolake[0].path.name, zoolake[0].data)})).json()
    answer = await catalog.client.post("/v1/labels/batch", json={
        "image_ids": [stored["id"], PAST_INT64], "taxon": "x", "state": "validated"})
    assert answer.status_code == 422, answer.text
    assert (await catalog.client.get(f"/v1/images/{stored['id']}")).json()["label"] is None


async def test_a_taxa_csv_the_csv_module_cannot_read_is_a_422_and_adds_nothing(catalog: Catalog):
    oversized = "name\n" + "x" * 200_000 + "\n"
    answer = await catalog.client.post("/v1/taxa/import", content=oversized.encode())
    assert answer.status_code == 422 and "field limit" in answer.json()["detail"], answer.text
    # A bare carriage return ends a line, as in old Mac files (the fuzzing found a 500 here).
    answer = await catalog.client.post("/v1/taxa/import", content=b"name,rank\ra,species\r")
    assert answer.status_code == 200, answer.text
    assert [t["name"] for t in (await catalog.client.get("/v1/taxa")).json()["data"]] == ["a"]
