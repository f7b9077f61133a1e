"""The grid and the review queue page by cursor through the gateway (the real catalog app over
PostgreSQL): every image once, in order, and a forged cursor is the catalog's 422 naming it."""

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from gateway.config import GatewaySettings
from tests.support.catalog import Catalog
from tests.support.gateway import running_gateway
from tests.support.services import ServiceRouter

IMAGES = 23


@pytest_asyncio.fixture
async def gateway(catalog: Catalog) -> AsyncIterator[httpx.AsyncClient]:
    async with catalog.app.state.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO images (sha256, format, width, height)"
            " SELECT md5(n::text) || md5(n::text), 'png', 60, 40 FROM generate_series(1, $1) n",
            IMAGES)
        await conn.execute(
            "INSERT INTO labels (image_id, taxon, state, confidence)"
            " SELECT id, 'daphnia', 'predicted', (id % 4) / 4.0 FROM images")
    settings = GatewaySettings(embedder_url="http://embedder", search_url="http://search",
                               catalog_url="http://catalog", auth="off")
    async with running_gateway(settings, ServiceRouter({"catalog": catalog.app})) as client:
        yield client


async def _all_pages(client: httpx.AsyncClient, path: str, **params: str) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        asked = {"limit": "5", **params, **({"cursor": cursor} if cursor else {})}
        answer = await client.get(path, params=asked)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["count"] == IMAGES
        seen += [image["id"] for image in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


@pytest.mark.parametrize(("path", "params"), [
    ("/api/v1/images", {}), ("/api/v1/review", {}), ("/api/v1/review", {"order": "uncertain"})])
async def test_cursor_pages_match_the_one_page_listing(
        gateway: httpx.AsyncClient, path: str, params: dict[str, str]) -> None:
    whole = (await gateway.get(path, params={"limit": "100", **params})).json()["data"]
    assert await _all_pages(gateway, path, **params) == [image["id"] for image in whole]


async def test_a_forged_cursor_is_a_422_naming_it(gateway: httpx.AsyncClient) -> None:
    answer = await gateway.get("/api/v1/images", params={"cursor": "eyJ4IjogMX0"})
    assert answer.status_code == 422 and "cursor" in answer.json()["detail"], answer.text
