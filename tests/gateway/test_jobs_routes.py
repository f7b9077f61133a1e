"""The gateway's /api/v1/jobs: bad form fields are 422s naming the field, before anything is
recorded; a file over the upload limit becomes a failed item named by its source."""

import httpx
import pytest

from gateway.config import GatewaySettings
from tests.support.catalog import Catalog
from tests.support.gateway import running_gateway


class CatalogOnly(httpx.AsyncBaseTransport):
    """http://catalog reaches the in-process catalog app; the other services are never called."""

    def __init__(self, app) -> None:
        self._catalog = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert request.url.host == "catalog", f"unexpected call to {request.url}"
        return await self._catalog.handle_async_request(request)


@pytest.mark.parametrize(("items", "problem"), [
    ("[{", "items is not valid JSON"),
    ('{"label": "x"}', "items must be a JSON list of objects"),
    ('["x"]', "items must be a JSON list of objects"),
    ("[{}, {}]", "items has 2 entries for 1 files"),
])
async def test_bad_items_field_is_a_422_naming_it(unreachable_settings, items, problem):
    async with running_gateway(unreachable_settings) as gateway:
        answer = await gateway.post("/api/v1/jobs", files=[("files", ("a.png", b"x"))],
                                    data={"items": items})
    assert answer.status_code == 422
    assert problem in answer.json()["detail"]


async def test_bad_refused_field_of_added_items_is_a_422(unreachable_settings):
    async with running_gateway(unreachable_settings) as gateway:
        answer = await gateway.post("/api/v1/jobs/1/items", data={"refused": "not json"})
    assert answer.status_code == 422
    assert "refused is not valid JSON" in answer.json()["detail"]


async def test_file_over_the_limit_is_a_failed_item_named_by_source(catalog: Catalog):
    settings = GatewaySettings(embedder_url="http://embedder", search_url="http://search",
                               catalog_url="http://catalog", max_upload_bytes=1000, auth="off")
    small, large = b"\x89PNG small", b"\x89PNG" + b"0" * 2000
    items = '[{"source": "bin/a.png"}, {"source": "bin/big.png", "label": "x"}]'
    async with running_gateway(settings, CatalogOnly(catalog.app)) as gateway:
        answer = await gateway.post("/api/v1/jobs", data={"items": items},
                                    files=[("files", ("a.png", small)), ("files", ("big.png", large))])
    assert answer.status_code == 201, answer.text
    job = answer.json()
    assert job["total"] == 2 and job["counts"]["pending"] == 1 and job["counts"]["failed"] == 1
    assert job["errors"] == [{"source": "bin/big.png", "filename": None,
                              "error": "file too large: more than 1000 bytes"}]
