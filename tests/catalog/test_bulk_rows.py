"""POST /v1/images/bulk-rows: rows without uploaded bytes, labelled in the same call, keep the
maintained counts exact, may share a stored image's files, and are refused whole with a 4xx
naming the problem (row cap, unknown taxon or project, a known sha256, a person's non-admin key)."""

import hashlib

import asyncpg

from services.catalog.bulk_rows import MAX_ROWS
from tests.support.catalog import upload


def _sha(n: int) -> str:
    return hashlib.sha256(f"bulk-{n}".encode()).hexdigest()


def _rows(count: int, start: int = 0) -> list[dict]:
    states = ["unlabelled", "validated", "dubious", "predicted"]
    rows = []
    for n in range(start, start + count):
        state = states[n % 4]
        rows.append({"sha256": _sha(n), "instrument": ["IFCB", "FlowCam"][n % 2],
                     "sample": f"D2024_{n // 10}", "captured_at": "2024-05-01T12:00:00Z",
                     "label": None if state == "unlabelled" else ["daphnia", "bosmina"][n % 2],
                     "label_state": state, "confidence": 0.75 if state == "predicted" else None})
    return rows


async def _taxa(catalog, *names: str) -> None:
    for name in names:
        assert (await catalog.client.post("/v1/taxa", json={"name": name})).status_code == 201


async def test_rows_are_stored_labelled_and_counted(catalog):
    await _taxa(catalog, "daphnia", "bosmina")
    answer = await catalog.client.post("/v1/images/bulk-rows", json={"rows": _rows(40)})
    assert answer.status_code == 201, answer.text
    ids = answer.json()["image_ids"]
    assert len(ids) == len(set(ids)) == 40
    looked_up = (await catalog.client.post("/v1/images/lookup", json={"ids": ids})).json()["data"]
    by_id = {image["id"]: image for image in looked_up}
    assert [(by_id[i]["sha256"], by_id[i]["label_state"], by_id[i]["label"]) for i in ids] == [
        (r["sha256"], r["label_state"], r["label"]) for r in _rows(40)]
    assert by_id[ids[3]]["label_confidence"] == 0.75
    for params, expected in (({}, 40), ({"state": "validated"}, 10),
                             ({"state": "dubious", "instrument": "FlowCam"}, 0),
                             ({"state": "dubious", "instrument": "IFCB"}, 10),
                             ({"label": "bosmina"}, 20)):
        page = (await catalog.client.get("/v1/images", params={**params, "limit": 1})).json()
        assert page["count"] == expected, params
    conn = await asyncpg.connect(catalog.settings.database_url)
    try:
        maintained = await conn.fetchval("SELECT sum(images) FROM image_counts")
        assert maintained == await conn.fetchval("SELECT count(*) FROM images") == 40
    finally:
        await conn.close()


async def test_rows_sharing_a_stored_images_files_show_its_thumbnail(catalog, zoolake):
    source = (await upload(catalog.client, zoolake[0])).json()
    rows = [{"sha256": _sha(n), "files_of": source["id"]} for n in range(3)] + [{"sha256": _sha(9)}]
    ids = (await catalog.client.post("/v1/images/bulk-rows", json={"rows": rows})).json()["image_ids"]
    source_thumbnail = (await catalog.client.get(f"/v1/images/{source['id']}/thumbnail")).content
    for image_id in ids[:3]:
        image = (await catalog.client.get(f"/v1/images/{image_id}")).json()
        assert (image["format"], image["width"], image["height"]) == (
            source["format"], source["width"], source["height"])
        assert image["metadata"] == {"files_of": source["id"]}
        thumbnail = await catalog.client.get(f"/v1/images/{image_id}/thumbnail")
        assert thumbnail.status_code == 200 and thumbnail.content == source_thumbnail
        assert (await catalog.client.get(f"/v1/images/{image_id}/file")).content == zoolake[0].data
    # A row without files lists like any other; only its bytes are missing.
    assert (await catalog.client.get(f"/v1/images/{ids[3]}")).json()["format"] == "png"


async def test_a_request_over_the_cap_is_a_422_naming_it(catalog):
    rows = [{"sha256": _sha(n)} for n in range(MAX_ROWS + 1)]
    answer = await catalog.client.post("/v1/images/bulk-rows", json={"rows": rows})
    assert answer.status_code == 422
    assert "rows" in answer.text and str(MAX_ROWS) in answer.text


async def test_bad_rows_are_refused_whole_naming_the_problem(catalog):
    await _taxa(catalog, "daphnia")
    cases = [
        ([{"sha256": _sha(1), "label": "nonesuch", "label_state": "validated"}], 422, "nonesuch"),
        ([{"sha256": _sha(1), "project_id": 77}], 422, "77"),
        ([{"sha256": _sha(1), "files_of": 987654}], 404, "987654"),
        ([{"sha256": _sha(1), "label": "daphnia"}], 422, "label_state"),
        ([{"sha256": _sha(1)}, {"sha256": _sha(1)}], 422, "twice"),
        ([{"sha256": "XYZ"}], 422, "sha256"),
    ]
    for rows, status, named in cases:
        answer = await catalog.client.post("/v1/images/bulk-rows", json={"rows": rows})
        assert answer.status_code == status and named in answer.text, (rows, answer.text)
    assert (await catalog.client.get("/v1/images")).json()["count"] == 0
    first = await catalog.client.post("/v1/images/bulk-rows", json={"rows": [{"sha256": _sha(2)}]})
    assert first.status_code == 201
    again = await catalog.client.post("/v1/images/bulk-rows",
                                      json={"rows": [{"sha256": _sha(3)}, {"sha256": _sha(2)}]})
    assert again.status_code == 409 and "already catalogued" in again.text
    assert (await catalog.client.get("/v1/images")).json()["count"] == 1


async def test_a_persons_key_below_admin_is_refused(catalog):
    headers = {"X-Nauplius-Annotator": "1", "X-Nauplius-Role": "annotator"}
    answer = await catalog.client.post("/v1/images/bulk-rows", headers=headers,
                                       json={"rows": [{"sha256": _sha(1)}]})
    assert answer.status_code == 403 and "admin" in answer.text


async def test_the_route_needs_the_service_credential(catalog):
    answer = await catalog.client.post("/v1/images/bulk-rows", json={"rows": [{"sha256": _sha(1)}]},
                                       headers={"X-Nauplius-Service-Key": "wrong"})
    assert answer.status_code == 401
