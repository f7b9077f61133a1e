"""The catalog's /v1 API through the real app, real PostgreSQL and real ZooLake images."""

import asyncio
import json

import cv2
import numpy as np
import pytest

from services.catalog.config import CatalogSettings
from services.catalog.staging import StagingStore
from tests.support.catalog import running_catalog, upload


async def test_health(catalog):
    response = await catalog.client.get("/health")
    assert response.json()["status"] == "ok"


async def test_upload_stores_row_and_content_addressed_bytes(catalog, zoolake):
    sample = zoolake[0]
    response = await upload(
        catalog.client,
        sample,
        instrument="SPC-EAWAG-0P5X",
        sample="greifensee-2019-10-08",
        captured_at="2019-10-08T13:22:52.901157+00:00",
        metadata='{"roi": {"x": 1224, "y": 2176}}',
        label=sample.label,
        annotator="eawag",
    )
    assert response.status_code == 201, response.text
    image = response.json()
    reference = cv2.imread(str(sample.path))
    assert image["sha256"] == sample.sha256  # the manifest's independent hash
    assert (image["format"], image["height"], image["width"]) == ("jpeg", *reference.shape[:2])
    assert image["filename"] == sample.path.name
    assert image["captured_at"].startswith("2019-10-08T13:22:52.901157")
    assert image["metadata"] == {"roi": {"x": 1224, "y": 2176}}
    assert (image["label"], image["label_state"], image["duplicate"]) == (
        sample.label,
        "validated",
        False,
    )
    sha = sample.sha256
    stored = catalog.settings.data_dir / "images" / sha[:2] / sha[2:4] / f"{sha}.jpg"
    assert stored.read_bytes() == sample.data
    assert (catalog.settings.data_dir / "thumbnails" / sha[:2] / sha[2:4] / f"{sha}.jpg").is_file()


async def test_duplicate_upload_returns_existing_row_and_stores_nothing(catalog, zoolake):
    first = (await upload(catalog.client, zoolake[0], label="daphnia")).json()
    files_before = catalog.stored_files()
    again = await upload(catalog.client, zoolake[0], label="bosmina", instrument="other")
    assert again.status_code == 200
    assert again.json() | {"duplicate": False} == first
    assert again.json()["duplicate"] is True
    assert await catalog.row_count() == 1
    assert catalog.stored_files() == files_before
    history = (await catalog.client.get(f"/v1/images/{first['id']}/labels")).json()["data"]
    assert [entry["taxon"] for entry in history] == ["daphnia"]


async def test_concurrent_uploads_of_same_bytes_make_one_row(catalog, zoolake):
    responses = await asyncio.gather(*(upload(catalog.client, zoolake[1]) for _ in range(4)))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await catalog.row_count() == 1


async def test_list_count_paging_and_filters(catalog, zoolake):
    ids = []
    for sample in zoolake[:5]:
        ids.append((await upload(catalog.client, sample, label=sample.label)).json()["id"])
    await catalog.client.put(
        f"/v1/images/{ids[0]}/label", json={"taxon": zoolake[1].label, "state": "dubious"}
    )

    seen = []
    for offset in (0, 2, 4):
        page = (
            await catalog.client.get("/v1/images", params={"limit": 2, "offset": offset})
        ).json()
        assert page["count"] == 5
        seen += [image["id"] for image in page["data"]]
    assert seen == ids[::-1]

    by_label = (await catalog.client.get("/v1/images", params={"label": zoolake[1].label})).json()
    assert ([i["id"] for i in by_label["data"]], by_label["count"]) == ([ids[1], ids[0]], 2)
    by_state = (await catalog.client.get("/v1/images", params={"state": "dubious"})).json()
    assert [i["id"] for i in by_state["data"]] == [ids[0]]
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"state": "sure"}):
        assert (await catalog.client.get("/v1/images", params=bad)).status_code == 422


async def test_get_by_id_and_sha256_file_and_thumbnail(catalog, zoolake):
    sample = zoolake[2]
    image = (await upload(catalog.client, sample)).json()
    got = (await catalog.client.get(f"/v1/images/{image['id']}")).json()
    assert got == {k: v for k, v in image.items() if k != "duplicate"}
    by_sha = await catalog.client.get(f"/v1/images/by-sha256/{sample.sha256.upper()}")
    assert by_sha.json() == got

    file = await catalog.client.get(f"/v1/images/{image['id']}/file")
    assert file.headers["content-type"] == "image/jpeg"
    assert file.content == sample.data

    thumbnail = await catalog.client.get(f"/v1/images/{image['id']}/thumbnail")
    assert thumbnail.headers["content-type"] == "image/jpeg"
    pixels = cv2.imdecode(np.frombuffer(thumbnail.content, np.uint8), cv2.IMREAD_COLOR)
    assert pixels is not None and max(pixels.shape[:2]) <= 128


async def test_a_small_jpeg_is_served_as_its_own_thumbnail(catalog, zoolake):
    small = zoolake[0]  # 84 x 64 px
    image = (await upload(catalog.client, small)).json()
    thumbnail = await catalog.client.get(f"/v1/images/{image['id']}/thumbnail")
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert thumbnail.content == small.data


async def test_staged_bytes_are_stored_as_a_link_of_the_staged_file(catalog, zoolake):
    """An ingest job's item: its bytes are on disk already, staged; storing it adds a name."""
    sample = zoolake[1]
    staged = StagingStore(catalog.settings.data_dir)
    staged.write(sample.sha256, sample.data)
    image = (await upload(catalog.client, sample)).json()
    sha = image["sha256"]
    stored = catalog.settings.data_dir / "images" / sha[:2] / sha[2:4] / f"{sha}.jpg"
    assert stored.stat().st_ino == staged.path(sha).stat().st_ino
    staged.delete(sha)
    file = await catalog.client.get(f"/v1/images/{image['id']}/file")
    assert file.content == sample.data


async def test_large_png_gets_a_128px_thumbnail(catalog, zoolake):
    pixels = cv2.imread(str(zoolake[3].path))
    big = cv2.resize(pixels, None, fx=5, fy=5, interpolation=cv2.INTER_CUBIC)
    ok, png = cv2.imencode(".png", big)
    response = await catalog.client.post(
        "/v1/images", files={"file": ("big.png", png.tobytes(), "image/png")}
    )
    image = response.json()
    assert (image["format"], image["width"], image["height"]) == ("png", big.shape[1], big.shape[0])
    assert (await catalog.client.get(f"/v1/images/{image['id']}/file")).headers[
        "content-type"
    ] == "image/png"
    thumbnail = (await catalog.client.get(f"/v1/images/{image['id']}/thumbnail")).content
    assert max(cv2.imdecode(np.frombuffer(thumbnail, np.uint8), cv2.IMREAD_COLOR).shape[:2]) == 128


async def test_label_history_is_append_only_and_current_is_latest(catalog, zoolake):
    image = (
        await upload(
            catalog.client, zoolake[0], label="daphnia", annotator="cnn", label_state="predicted"
        )
    ).json()
    url = f"/v1/images/{image['id']}"
    first_history = (await catalog.client.get(f"{url}/labels")).json()["data"]
    updated = await catalog.client.put(
        f"{url}/label", json={"taxon": "bosmina", "annotator": "ana"}
    )
    assert (updated.json()["label"], updated.json()["label_state"]) == ("bosmina", "validated")
    await catalog.client.put(
        f"{url}/label", json={"taxon": "bosmina", "state": "dubious", "confidence": 0.4}
    )
    history = (await catalog.client.get(f"{url}/labels")).json()["data"]
    assert history[0] == first_history[0]
    assert [(h["taxon"], h["state"], h["annotator"]) for h in history] == [
        ("daphnia", "predicted", "cnn"),
        ("bosmina", "validated", "ana"),
        ("bosmina", "dubious", None),
    ]
    current = (await catalog.client.get(url)).json()
    assert (current["label"], current["label_state"]) == ("bosmina", "dubious")
    for bad in (
        {"taxon": ""},
        {"state": "validated"},
        {"taxon": "x", "state": "certain"},
        {"taxon": "x", "confidence": 1.5},
        {"taxon": "x", "state": "unlabelled"},
    ):
        assert (await catalog.client.put(f"{url}/label", json=bad)).status_code == 422
    assert len((await catalog.client.get(f"{url}/labels")).json()["data"]) == 3


async def test_lookup_keeps_order_and_leaves_out_unknown(catalog, zoolake):
    ids = [(await upload(catalog.client, s)).json()["id"] for s in zoolake[:3]]
    response = await catalog.client.post(
        "/v1/images/lookup", json={"ids": [ids[2], 987654, ids[0], ids[1]]}
    )
    assert [image["id"] for image in response.json()["data"]] == [ids[2], ids[0], ids[1]]


async def test_mark_indexed(catalog, zoolake):
    image = (await upload(catalog.client, zoolake[0])).json()
    assert image["indexed_at"] is None
    marked = (
        await catalog.client.post(
            f"/v1/images/{image['id']}/indexed", json={"model": "efficientnet-lite0"}
        )
    ).json()
    assert marked["indexed_model"] == "efficientnet-lite0" and marked["indexed_at"] is not None
    bad = await catalog.client.post(f"/v1/images/{image['id']}/indexed", json={"model": "Bad Name"})
    assert bad.status_code == 422


def _truncated(zoolake):
    return zoolake[4].data[: len(zoolake[4].data) * 2 // 3]


BAD_UPLOADS = [
    ("empty", lambda z: b"", {}, 422, "zero bytes"),
    ("text", lambda z: b"taxon,count\ndaphnia,12\n", {}, 422, "not an image"),
    ("truncated", _truncated, {}, 422, "truncated JPEG"),
    (
        "metadata not json",
        lambda z: z[5].data,
        {"metadata": "{roi: 3"},
        422,
        "metadata: is not valid JSON",
    ),
    (
        "metadata not object",
        lambda z: z[5].data,
        {"metadata": "[1, 2]"},
        422,
        "metadata: must be a JSON object, not list",
    ),
    (
        "metadata NaN",
        lambda z: z[5].data,
        {"metadata": '{"depth": NaN}'},
        422,
        "metadata: is not valid JSON: NaN",
    ),
    ("captured_at", lambda z: z[5].data, {"captured_at": "yesterday noon"}, 422, "captured_at"),
    ("NUL in sample", lambda z: z[5].data, {"sample": "lake\x00"}, 422, "sample: contains a NUL"),
    (
        "label_state",
        lambda z: z[5].data,
        {"label": "daphnia", "label_state": "sure"},
        422,
        "label_state",
    ),
]


@pytest.mark.parametrize(
    ("data", "fields", "status", "problem"),
    [b[1:] for b in BAD_UPLOADS],
    ids=[b[0] for b in BAD_UPLOADS],
)
async def test_bad_upload_is_refused_and_nothing_changes(
    catalog, zoolake, data, fields, status, problem
):
    await upload(catalog.client, zoolake[0])
    rows, files = await catalog.row_count(), catalog.stored_files()
    response = await catalog.client.post(
        "/v1/images", files={"file": ("upload.jpeg", data(zoolake), "image/jpeg")}, data=fields
    )
    assert response.status_code == status
    assert problem in json.dumps(response.json())
    assert await catalog.row_count() == rows
    assert catalog.stored_files() == files


async def test_too_many_pixels_is_413_and_stores_nothing(catalog_database_url, tmp_path, zoolake):
    settings = CatalogSettings(
        database_url=catalog_database_url, data_dir=tmp_path / "small", max_pixels=1000
    )
    async with running_catalog(settings) as small:
        before = await small.row_count()
        response = await upload(small.client, zoolake[6])
        assert response.status_code == 413
        assert "over the limit of 1000 pixels" in response.json()["detail"]
        assert await small.row_count() == before
        assert small.stored_files() == set()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/images/424242", None),
        ("GET", "/v1/images/424242/file", None),
        ("GET", "/v1/images/424242/thumbnail", None),
        ("GET", "/v1/images/424242/labels", None),
        ("PUT", "/v1/images/424242/label", {"taxon": "daphnia"}),
        ("POST", "/v1/images/424242/indexed", {"model": "m"}),
        ("GET", f"/v1/images/by-sha256/{'0' * 64}", None),
    ],
)
async def test_unknown_image_is_404(catalog, method, path, body):
    response = await catalog.client.request(method, path, json=body)
    assert response.status_code == 404
    assert "not found" in response.json()["detail"] or "no image" in response.json()["detail"]


async def test_malformed_sha256_is_422(catalog):
    assert (await catalog.client.get("/v1/images/by-sha256/xyz")).status_code == 422


async def test_missing_file_on_disk_is_a_clear_500(catalog, zoolake):
    image = (await upload(catalog.client, zoolake[0])).json()
    sha = image["sha256"]
    (catalog.settings.data_dir / "thumbnails" / sha[:2] / sha[2:4] / f"{sha}.jpg").unlink()
    response = await catalog.client.get(f"/v1/images/{image['id']}/thumbnail")
    assert response.status_code == 500
    assert "missing from storage" in response.json()["detail"]


async def test_a_batch_stores_the_good_files_and_names_each_refusal(catalog, zoolake):
    good, again, other = zoolake[0], zoolake[0], zoolake[1]
    files = [("files", (p.path.name, p.data, "image/jpeg")) for p in (good, again, other)]
    files += [("files", ("broken.jpeg", b"not an image", "image/jpeg")),
              ("files", ("x.jpeg", zoolake[2].data, "image/jpeg")),
              ("files", ("y.jpeg", zoolake[3].data, "image/jpeg"))]
    items = [{"instrument": "SPC", "metadata": {"roi": 1}}, {}, {"captured_at": "yesterday"},
             {}, {"label_state": "certain"}, {"project_id": 99}]
    response = await catalog.client.post("/v1/images/batch", files=files,
                                         data={"items": json.dumps(items)})
    assert response.status_code == 200, response.text
    entries = response.json()["data"]
    stored, duplicate = entries[0]["image"], entries[1]["image"]
    assert stored["sha256"] == good.sha256 and stored["instrument"] == "SPC"
    assert stored["metadata"] == {"roi": 1} and not stored["duplicate"]
    assert duplicate["id"] == stored["id"] and duplicate["duplicate"]
    errors = [e["error"] for e in entries[2:]]
    assert all(e["image"] is None for e in entries[2:]), entries[2:]
    assert "captured_at" in errors[0]
    assert "decode" in errors[1].lower() or "image" in errors[1].lower(), errors[1]
    assert "label_state" in errors[2] and "99" in errors[3], errors
    assert await catalog.row_count() == 1


async def test_a_batch_whose_items_do_not_match_its_files_stores_nothing(catalog, zoolake):
    files = [("files", (p.path.name, p.data, "image/jpeg")) for p in zoolake[:2]]
    response = await catalog.client.post("/v1/images/batch", files=files,
                                         data={"items": json.dumps([{}])})
    assert response.status_code == 422 and "items has 1 entries for 2 files" in response.text
    assert await catalog.row_count() == 0 and catalog.stored_files() == set()


async def test_a_batch_entry_names_its_bad_field_and_blank_fields_are_absent(catalog, zoolake):
    files = [("files", (p.path.name, p.data, "image/jpeg")) for p in zoolake[:2]]
    items = [{"colour": "red"}, {"filename": "", "instrument": "  ", "label_state": None}]
    response = await catalog.client.post("/v1/images/batch", files=files,
                                         data={"items": json.dumps(items)})
    refused, stored = response.json()["data"]
    assert refused == {"image": None, "error": "items[0].colour: unknown field"}
    image = stored["image"]
    assert (image["filename"], image["instrument"]) == (zoolake[1].path.name, None)
