"""The public API refuses text that cannot be stored, or that a terminal would run, with a 422
naming the field before anything is asked of a service; a job intake the catalog refuses closes
its job with the reason and leaves no staged bytes."""

import json
from typing import Any

import httpx
import pytest

from gateway.config import GatewaySettings
from gateway.main import create_app
from tests.support.catalog import Catalog
from tests.support.gateway import running_gateway
from tests.support.multipart import raw_multipart
from tests.support.openapi_text import unchecked_text

# A CSV body is checked row by row by the catalog (tests/catalog/test_text_hygiene.py).
CHECKED_ROW_BY_ROW = {"POST /api/v1/taxa/import text/csv"}


class CatalogOnly(httpx.AsyncBaseTransport):
    """http://catalog reaches the in-process catalog app; the other services are never called."""

    def __init__(self, app) -> None:
        self._catalog = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert request.url.host == "catalog", f"unexpected call to {request.url}"
        return await self._catalog.handle_async_request(request)


def test_every_public_text_field_refuses_unclean_text(unreachable_settings: GatewaySettings):
    spec = create_app(unreachable_settings).openapi()
    assert set(unchecked_text(spec)) - CHECKED_ROW_BY_ROW == set()


# Every service is unreachable: an answer other than 502 was given by the gateway itself.
@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/images?taxon=Daphnia%00", "taxon"),
    ("/api/v1/images?instrument=IFCB%1B", "instrument"),
    ("/api/v1/images/1/similar?label=%00", "label"),
    ("/api/v1/review?taxon=fish%0A", "taxon"),
])
async def test_unclean_query_parameter_is_a_422_naming_it(unreachable_settings, url: str,
                                                          field: str):
    async with running_gateway(unreachable_settings) as gateway:
        answer = await gateway.get(url)
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["query", field] and "contains a" in problem["msg"]


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("post", "/api/v1/taxa", {"name": "Daphnia\x00"}, "name"),
    ("post", "/api/v1/projects", {"name": "lake\x1b[2J"}, "name"),
    ("post", "/api/v1/annotators", {"name": "Ana", "institution": "Eawag\x00"}, "institution"),
    ("put", "/api/v1/images/1/label", {"taxon": "fish\x00"}, "taxon"),
    ("post", "/api/v1/labels/batch", {"image_ids": [1], "taxon": "fish\x07"}, "taxon"),
    ("post", "/api/v1/suggestions/accept", {"taxon": "fish", "min_confidence": 0.9,
                                            "instrument": "\x00"}, "instrument"),
    ("post", "/api/v1/similar", {"image_ids": [1], "suggested_taxon": "a\ud800"}, "suggested_taxon"),
])
async def test_unclean_text_in_a_json_body_is_a_422_naming_it(
        unreachable_settings, method: str, path: str, body: dict[str, Any], field: str):
    async with running_gateway(unreachable_settings) as gateway:
        answer = await gateway.request(method, path, content=json.dumps(body),
                                       headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["detail"]
    # a lone surrogate in a stripped field: pydantic's own words ("... a unicode string")
    assert problem["loc"][-1] == field and ("contains a" in problem["msg"]
                                            or "unicode" in problem["msg"])


@pytest.mark.parametrize("field", ["label", "instrument", "sample"])
async def test_unclean_form_field_of_an_upload_is_a_422_naming_it(unreachable_settings, field):
    async with running_gateway(unreachable_settings) as gateway:
        for path in ("/api/v1/images", "/api/v1/jobs"):
            answer = await gateway.post(path, data={field: "bad\x00"},
                                        files=[("files", ("a.png", b"\x89PNG"))])
            assert answer.status_code == 422, answer.text
            assert answer.json()["detail"][0]["loc"] == ["body", field]


async def test_unclean_filename_is_refused_before_any_service_is_asked(unreachable_settings):
    body, headers = raw_multipart([("files", b"fi\x00sh.png", b"\x89PNG")])
    async with running_gateway(unreachable_settings) as gateway:
        job = await gateway.post("/api/v1/jobs", content=body, headers=headers)
        upload = await gateway.post("/api/v1/images", content=body, headers=headers)
    assert job.status_code == 422
    assert job.json()["detail"] == "files[0]: filename contains a NUL character (U+0000)"
    assert upload.status_code == 422  # the only file refused on its own, with its reason
    assert upload.json()["data"][0]["error"] == "filename contains a NUL character (U+0000)"


@pytest.fixture
def catalog_settings() -> GatewaySettings:
    return GatewaySettings(embedder_url="http://embedder", search_url="http://search",
                           catalog_url="http://catalog", auth="off")


async def test_unclean_item_text_is_refused_before_a_job_is_made(
        catalog: Catalog, catalog_settings: GatewaySettings, zoolake):
    items = json.dumps([{"source": "bin/a.png"}, {"metadata": {"ifcb": {"comment": "x\x00"}}}])
    files = [("files", ("a.jpg", zoolake[0].data)), ("files", ("b.jpg", zoolake[1].data))]
    async with running_gateway(catalog_settings, CatalogOnly(catalog.app)) as gateway:
        answer = await gateway.post("/api/v1/jobs", data={"items": items}, files=files)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"] == (
            "items[1].metadata: ifcb.comment: contains a NUL character (U+0000)")
        # an admin's label would make a taxon first: refused before that too
        labelled = await gateway.post("/api/v1/jobs", files=files[:1],
                                      data={"items": json.dumps([{"label": "fish\x1b"}])})
        assert labelled.status_code == 422
        assert labelled.json()["detail"] == "items[0].label: contains a control character (U+001B)"
        assert (await gateway.get("/api/v1/jobs")).json()["data"] == []
        assert (await gateway.get("/api/v1/taxa")).json()["count"] == 0
    assert catalog.staged_files() == [] and await catalog.row_count() == 0


async def test_an_intake_the_catalog_refuses_closes_the_job_and_stages_nothing(
        catalog: Catalog, catalog_settings: GatewaySettings, zoolake):
    files = [("files", ("a.jpg", zoolake[0].data))]
    not_for_jobs = json.dumps([{"project_id": 2}])  # only the catalog knows a job item's fields
    async with running_gateway(catalog_settings, CatalogOnly(catalog.app)) as gateway:
        answer = await gateway.post("/api/v1/jobs", data={"items": not_for_jobs}, files=files)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"] == "items[0].project_id: not a field of a job item"
        [job] = (await gateway.get("/api/v1/jobs")).json()["data"]
        assert job["closed"] and job["finished"] and job["counts"]["failed"] == 1
        assert job["errors"][0]["error"] == answer.json()["detail"]

        kept = (await gateway.post("/api/v1/jobs", data={"keep_open": "true"})).json()
        good = await gateway.post(f"/api/v1/jobs/{kept['id']}/items", files=files)
        assert good.status_code == 200, good.text
        bad = await gateway.post(f"/api/v1/jobs/{kept['id']}/items", data={"items": not_for_jobs},
                                 files=[("files", ("b.jpg", zoolake[1].data))])
        assert bad.status_code == 422
        status = (await gateway.get(f"/api/v1/jobs/{kept['id']}")).json()
    # The first addition stays, to be indexed; the job takes no more and ends once it is.
    assert status["closed"] and status["counts"] == {
        "pending": 1, "running": 0, "done": 0, "duplicate": 0, "failed": 1}
    assert [p.name for p in catalog.staged_files()] == [zoolake[0].sha256]
