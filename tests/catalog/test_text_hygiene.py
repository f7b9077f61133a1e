"""Text the catalog cannot store, or that a terminal would run, is refused by the catalog itself
with a 422 naming the field (it trusts no caller); an intake refused for what it holds, or that
fails half-way, leaves no staged bytes behind and closes its job with the reason."""

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from nauplius.core.contracts import catalog as contracts
from services.catalog.main import create_app
from tests.support.catalog import Catalog, add_items, empty_catalog, job_status, new_job
from tests.support.multipart import raw_multipart
from tests.support.openapi_text import unchecked_text


@pytest.fixture(autouse=True)
async def leave_the_catalog_empty(catalog_database_url: str) -> AsyncIterator[None]:
    yield
    await empty_catalog(catalog_database_url)


async def _images(catalog: Catalog) -> int:
    return await catalog.row_count()


async def _assert_job_failed_with(catalog: Catalog, job_id: int, *words: str) -> None:
    job = await job_status(catalog, job_id)
    assert job["closed"] and job["finished"], job
    assert job["counts"]["pending"] == 0 and job["counts"]["failed"] == 1
    [error] = job["errors"]
    assert error["source"] == "intake"
    assert all(word in error["error"] for word in words), error


# --- job intake ----------------------------------------------------------------------------
@pytest.mark.parametrize(("entry", "field", "problem"), [
    ({"metadata": {"ifcb": {"comment": "bad\x00"}}}, "items[0].metadata", "ifcb.comment: contains a NUL"),
    ({"metadata": {"roi\x00": 1}}, "items[0].metadata", "contains a NUL"),
    ({"metadata": {"list": ["ok", "\x1b[31m"]}}, "items[0].metadata", "list[1]: contains a control"),
    ({"label": "Daphnia\x00"}, "items[0].label", "contains a NUL character (U+0000)"),
    ({"instrument": "IFCB\x07"}, "items[0].instrument", "contains a control character (U+0007)"),
    ({"sample": "D1\x7f"}, "items[0].sample", "contains a control character (U+007F)"),
    ({"filename": "a\nb.png"}, "items[0].filename", "tab or line break (U+000A)"),
    # pydantic's JSON parser refuses a lone surrogate escape itself
    ({"source": "drop/\ud800.png"}, "items", "Invalid JSON"),
])
async def test_unclean_text_in_an_item_is_a_422_that_closes_the_job(
        catalog: Catalog, zoolake, entry: dict[str, Any], field: str, problem: str):
    job_id = await new_job(catalog)
    # json.dumps writes \u0000 and \ud800 as escapes: what a partner's JSON library sends.
    answer = await add_items(catalog, job_id, [("fish.jpg", zoolake[0].data)], json.dumps([entry]))
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(f"{field}: ") and problem in answer.json()["detail"]
    assert catalog.staged_files() == [] and await _images(catalog) == 0
    await _assert_job_failed_with(catalog, job_id, field, problem)
    again = await add_items(catalog, job_id, [("fish.jpg", zoolake[0].data)])
    assert again.status_code == 409  # closed: a sender that gave up left nothing open


async def test_unclean_upload_filename_and_refused_source_are_422s(catalog: Catalog, zoolake):
    job_id = await new_job(catalog)
    body, headers = raw_multipart([("files", b"fi\x00sh.jpg", zoolake[0].data)])
    answer = await catalog.client.post(f"/v1/jobs/{job_id}/items", content=body, headers=headers)
    assert answer.status_code == 422
    assert answer.json()["detail"] == "files[0].filename: contains a NUL character (U+0000)"
    await _assert_job_failed_with(catalog, job_id, "files[0].filename")
    other = await new_job(catalog)
    refused = json.dumps([{"source": "bin/\x1b", "reason": "broken"}])
    answer = await catalog.client.post(f"/v1/jobs/{other}/items", data={"refused": refused})
    assert answer.status_code == 422
    assert answer.json()["detail"] == "refused[0].source: contains a control character (U+001B)"
    assert catalog.staged_files() == []


async def test_a_failure_reason_is_cleaned_not_refused(catalog: Catalog):
    """A reason is a report (a worker's, an instrument's): what text cannot hold is replaced."""
    job_id = await new_job(catalog)
    refused = json.dumps([{"source": "bin/a", "reason": "bad byte \x00 here"}])
    answer = await catalog.client.post(f"/v1/jobs/{job_id}/items", data={"refused": refused})
    assert answer.status_code == 200, answer.text
    errors = (await job_status(catalog, job_id))["errors"]
    assert errors == [{"source": "bin/a", "filename": None, "error": "bad byte \ufffd here"}]


async def test_tab_and_newline_where_text_is_free(catalog: Catalog, zoolake):
    job_id = await new_job(catalog)
    entry = {"source": "drop/fish.jpg", "metadata": {"note": "two\tcolumns\nand a line\r\n"}}
    answer = await add_items(catalog, job_id, [("fish.jpg", zoolake[0].data)], [entry])
    assert answer.status_code == 200, answer.text
    claimed = (await catalog.client.post("/v1/jobs/claim", json={"limit": 5})).json()["data"]
    assert claimed[0]["fields"]["metadata"] == entry["metadata"]
    project = await catalog.client.post("/v1/projects", json={
        "name": "Lake Zurich 2026", "description": "Monthly samples.\n\tDepth 5 m."})
    assert project.status_code == 201, project.text
    assert project.json()["description"] == "Monthly samples.\n\tDepth 5 m."


async def test_a_refusal_of_someone_elses_request_leaves_their_job_open(catalog: Catalog, zoolake):
    for name in ("Ana", "Ben"):
        assert (await catalog.client.post("/v1/annotators", json={"name": name})).status_code == 201
    job_id = await new_job(catalog, actor=1)
    answer = await catalog.client.post(
        f"/v1/jobs/{job_id}/items", headers={"X-Nauplius-Annotator": "2"},
        data={"items": json.dumps([{"label": "x\x00"}])},
        files=[("files", ("fish.jpg", zoolake[0].data))])
    assert answer.status_code == 422
    job = await job_status(catalog, job_id)
    assert not job["closed"] and job["total"] == 0


# --- an intake that fails half-way ------------------------------------------------------------
@pytest.fixture
async def poison_source(catalog: Catalog) -> AsyncIterator[str]:
    """A CHECK constraint PostgreSQL enforces on the items' insert: a source it refuses, after
    every file of the request was staged (what a constraint, a full disk or a dropped connection
    does half-way through)."""
    async with catalog.app.state.pool.acquire() as conn:
        await conn.execute("ALTER TABLE ingest_items ADD CONSTRAINT test_poison"
                           " CHECK (source <> 'drop/poison.jpg')")
    try:
        yield "drop/poison.jpg"
    finally:
        async with catalog.app.state.pool.acquire() as conn:
            await conn.execute("ALTER TABLE ingest_items DROP CONSTRAINT test_poison")


async def test_an_intake_failing_half_way_unstages_its_bytes_and_closes_the_job(
        catalog: Catalog, zoolake, poison_source: str):
    job_id = await new_job(catalog)
    files = [(f"{n}.jpg", zoolake[n].data) for n in range(3)]
    items = [{"source": "drop/0.jpg"}, {"source": "drop/1.jpg"}, {"source": poison_source}]
    answer = await add_items(catalog, job_id, files, items)
    assert answer.status_code == 422, answer.text
    assert "the items cannot be stored" in answer.json()["detail"]
    assert catalog.staged_files() == []
    await _assert_job_failed_with(catalog, job_id, "test_poison")


async def test_a_rollback_keeps_the_bytes_another_item_still_needs(
        catalog: Catalog, zoolake, poison_source: str):
    first = await new_job(catalog)
    kept = await add_items(catalog, first, [("0.jpg", zoolake[0].data)])
    assert kept.status_code == 200
    second = await new_job(catalog)
    answer = await add_items(catalog, second, [("0.jpg", zoolake[0].data), ("1.jpg", zoolake[1].data)],
                             [{"source": "drop/0.jpg"}, {"source": poison_source}])
    assert answer.status_code == 422
    assert [p.name for p in catalog.staged_files()] == [zoolake[0].sha256]
    assert (await job_status(catalog, first))["counts"]["pending"] == 1


# --- the catalog's other doors ---------------------------------------------------------------
@pytest.mark.parametrize(("path", "body", "field", "problem"), [
    ("/v1/taxa", {"name": "Daphnia\x00"}, "name", "contains a NUL character (U+0000)"),
    ("/v1/taxa", {"name": "Daphnia", "rank": "genus\x1b"}, "rank", "control character (U+001B)"),
    ("/v1/projects", {"name": "lake\x00"}, "name", "contains a NUL"),
    ("/v1/projects", {"name": "lake", "description": "bell\x07"}, "description", "(U+0007)"),
    ("/v1/annotators", {"name": "Ana\x00"}, "name", "contains a NUL"),
    ("/v1/annotators", {"name": "Ana", "institution": "Eawag\nZurich"}, "institution",
     "tab or line break (U+000A)"),
    # pydantic's own words for a lone surrogate in a stripped field; echoed back without a 500
    ("/v1/annotators", {"name": "Ana\ud800"}, "name", "unicode string"),
    ("/v1/jobs", {"source": "drop/\udc00"}, "source", "lone surrogate (U+DC00)"),
    ("/v1/jobs", {"source": "watch\x00"}, "source", "contains a NUL"),
    ("/v1/jobs", {"kind": "reconcile", "params": {"repair": "\x00"}}, "params",
     "repair: contains a NUL"),
])
async def test_unclean_text_in_a_json_body_is_a_422_naming_the_field(
        catalog: Catalog, path: str, body: dict[str, Any], field: str, problem: str):
    answer = await catalog.client.post(path, content=json.dumps(body),
                                       headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    [refusal] = answer.json()["detail"]
    assert refusal["loc"] == ["body", field] and problem in refusal["msg"]
    taxa = (await catalog.client.get("/v1/taxa")).json()
    jobs = (await catalog.client.get("/v1/jobs")).json()
    assert taxa["count"] == 0 and jobs["data"] == []


async def test_a_nan_in_a_refused_body_is_echoed_as_text(catalog: Catalog):
    answer = await catalog.client.post("/v1/suggestions", content=b'{"data": [{"image_id": 1,'
                                       b' "taxon": "x", "confidence": NaN}]}',
                                       headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["input"] == "nan"


async def test_a_label_with_a_nul_is_a_422_and_changes_nothing(catalog: Catalog, zoolake):
    stored = await catalog.client.post("/v1/images", files={"file": ("a.jpg", zoolake[0].data)})
    image_id = stored.json()["id"]
    answer = await catalog.client.put(f"/v1/images/{image_id}/label",
                                      json={"taxon": "fish\x00", "annotator": "Ana"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "taxon"]
    assert (await catalog.client.get(f"/v1/images/{image_id}")).json()["label"] is None


async def test_a_nul_in_a_query_is_a_422_not_a_500(catalog: Catalog):
    """Behind the contracts' types, the last line: text PostgreSQL cannot hold is the caller's."""
    for url in ("/v1/images?label=a%00b", "/v1/images?instrument=%00"):
        answer = await catalog.client.get(url)
        assert answer.status_code == 422
        assert "text the catalog cannot store" in answer.json()["detail"]


async def test_a_taxa_csv_with_control_characters_is_refused_by_line(catalog: Catalog):
    csv = "name,rank,parent\nDaphnia,genus,\nD. magna,spe\x1bcies,Daphnia\n"
    answer = await catalog.client.post("/v1/taxa/import", content=csv.encode())
    assert answer.status_code == 422
    assert answer.json()["detail"] == "line 3: rank contains a control character (U+001B)"
    assert (await catalog.client.get("/v1/taxa")).json()["count"] == 0


def test_every_json_body_and_job_intake_field_refuses_unclean_text():
    """The contracts' request models, and the job intake's forms, carry a text rule; the catalog's
    older form and query fields are checked by UploadEntry and the last line (above)."""
    unchecked = [where for where in unchecked_text(create_app().openapi())
                 if " json." in where or " /v1/jobs" in where]
    assert unchecked == []


def test_answers_keep_plain_text():
    """What was stored before these rules stays readable: answers are not held to them."""
    image = contracts.ImagePublic.model_fields["instrument"]
    assert image.annotation == str | None and not image.metadata
