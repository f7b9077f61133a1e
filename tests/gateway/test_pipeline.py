"""The gateway against the real embedder, search and catalog apps, in-process.

Each service runs its own lifespan (ONNX model, Qdrant Edge folder in tmp_path, a fresh
PostgreSQL database); the gateway's shared httpx client reaches them through one transport
that picks the app by host name.
"""

from pathlib import Path

import httpx
import pytest

from tests.support.data import zoolake_images


def _parts(paths: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


async def test_upload_browse_search_and_label(stack: tuple[httpx.AsyncClient, httpx.AsyncClient]) -> None:
    gw, _ = stack
    daphnia, rotifers = zoolake_images("daphnia", 3), zoolake_images("asplanchna", 3)
    files = _parts(daphnia) + [("files", ("notes.txt", b"not an image at all", "text/plain"))]
    files += [("files", (daphnia[0].name, daphnia[0].read_bytes(), "image/jpeg"))]
    first = await gw.post("/api/v1/images", files=files, data={"label": "daphnia", "instrument": "SPC"})
    second = await gw.post("/api/v1/images", files=_parts(rotifers), data={"label": "asplanchna"})
    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text

    entries = first.json()["data"]
    assert [e["error"] is None for e in entries] == [True, True, True, False, True]
    assert [e["duplicate"] for e in entries] == [False, False, False, False, True]
    assert entries[3]["id"] is None
    assert entries[4]["id"] == entries[0]["id"]  # same bytes twice in one batch
    daphnia_ids = [e["id"] for e in entries[:3]]
    rotifer_ids = [e["id"] for e in second.json()["data"]]

    again = await gw.post("/api/v1/images", files=_parts(daphnia[:1]))
    assert again.json()["data"] == [
        {"id": daphnia_ids[0], "sha256": entries[0]["sha256"], "duplicate": True, "error": None}
    ]

    listing = (await gw.get("/api/v1/images", params={"limit": 4})).json()
    assert listing["count"] == 6 and len(listing["data"]) == 4
    assert listing["data"][0]["thumbnail_url"] == f"/api/v1/images/{listing['data'][0]['id']}/thumbnail"

    file = await gw.get(f"/api/v1/images/{daphnia_ids[1]}/file")
    assert file.content == daphnia[1].read_bytes()
    assert file.headers["content-type"].startswith("image/jpeg")
    assert "immutable" in file.headers["cache-control"]
    thumb = await gw.get(f"/api/v1/images/{daphnia_ids[1]}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"

    similar = (await gw.get(f"/api/v1/images/{daphnia_ids[0]}/similar", params={"k": 5})).json()["data"]
    assert len(similar) == 5 and daphnia_ids[0] not in [n["id"] for n in similar]
    scores = [n["score"] for n in similar]
    assert scores == sorted(scores, reverse=True)
    by_label = (
        await gw.get(f"/api/v1/images/{daphnia_ids[0]}/similar",
                     params={"label": "asplanchna", "metric": "euclidean"})
    ).json()["data"]
    assert sorted(n["id"] for n in by_label) == sorted(rotifer_ids)
    assert [n["score"] for n in by_label] == sorted(n["score"] for n in by_label)

    query = await gw.post("/api/v1/search", params={"k": 1},
                          files={"file": ("q.jpeg", rotifers[2].read_bytes(), "image/jpeg")})
    [best] = query.json()["data"]
    assert best["id"] == rotifer_ids[2] and best["label"] == "asplanchna"
    assert best["score"] == pytest.approx(1.0, abs=1e-4)
    assert (await gw.get("/api/v1/images")).json()["count"] == 6  # the query stored nothing

    relabelled = await gw.put(f"/api/v1/images/{rotifer_ids[0]}/label",
                              json={"taxon": "keratella", "annotator": "kim"})
    assert relabelled.status_code == 200 and relabelled.json()["label"] == "keratella"
    history = (await gw.get(f"/api/v1/images/{rotifer_ids[0]}/labels")).json()["data"]
    assert len(history) == 2
    in_index = (await gw.get(f"/api/v1/images/{daphnia_ids[0]}/similar",
                             params={"label": "keratella"})).json()
    assert [n["id"] for n in in_index["data"]] == [rotifer_ids[0]]

    health = await gw.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert (await gw.get("/api/v1/model")).json()["name"] == "plankton-lite0-int8"


async def test_image_stored_but_not_indexed_is_indexed_on_reupload(
    stack: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    gw, catalog = stack
    [orphan, other] = zoolake_images("bosmina", 2)
    # As if the gateway crashed after the catalog stored the image, before search indexed it.
    stored = await catalog.post("/v1/images",
                                files={"file": (orphan.name, orphan.read_bytes(), "image/jpeg")})
    assert stored.status_code == 201, stored.text
    orphan_id = stored.json()["id"]
    assert (await gw.get(f"/api/v1/images/{orphan_id}/similar")).status_code == 404

    upload = await gw.post("/api/v1/images", files=_parts([orphan, other]))
    assert upload.status_code == 200, upload.text
    [again, new] = upload.json()["data"]
    assert again["id"] == orphan_id and again["duplicate"] is True and again["error"] is None
    assert new["duplicate"] is False
    assert (await catalog.get(f"/v1/images/{orphan_id}")).json()["indexed_at"] is not None
    neighbours = (await gw.get(f"/api/v1/images/{orphan_id}/similar")).json()["data"]
    assert [n["id"] for n in neighbours] == [new["id"]]


async def test_unknown_image_is_404(stack: tuple[httpx.AsyncClient, httpx.AsyncClient]) -> None:
    gw, _ = stack
    for path in ("/api/v1/images/424242", "/api/v1/images/424242/file", "/api/v1/images/424242/labels"):
        assert (await gw.get(path)).status_code == 404, path
    refused = await gw.post("/api/v1/images", files=[("files", ("a.txt", b"plain text", "text/plain"))])
    assert refused.status_code == 422
    assert refused.json()["data"][0]["error"]
