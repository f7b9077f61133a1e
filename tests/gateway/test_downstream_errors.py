"""Downstream failures become 502/504 naming the service; 4xx pass through."""

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from gateway.config import GatewaySettings
from tests.support.gateway import running_gateway


async def test_unreachable_catalog_is_502_naming_it(unreachable_settings: GatewaySettings) -> None:
    async with running_gateway(unreachable_settings) as gw:
        response = await gw.get("/api/v1/images")
    assert response.status_code == 502
    assert response.json() == {"detail": "catalog service unreachable"}


async def test_unreachable_embedder_is_502_for_the_model(unreachable_settings: GatewaySettings) -> None:
    async with running_gateway(unreachable_settings) as gw:
        response = await gw.get("/api/v1/model")
    assert response.status_code == 502
    assert response.json() == {"detail": "embedder service unreachable"}


async def test_hung_catalog_is_504_naming_it(hung_url: str, closed_url: str) -> None:
    settings = GatewaySettings(
        embedder_url=closed_url, search_url=closed_url, catalog_url=hung_url, timeout_s=0.3,
        auth="off",  # the request itself, not the key lookup, is to meet the hung catalog
    )
    async with running_gateway(settings) as gw:
        response = await gw.get("/api/v1/images/1")
    assert response.status_code == 504
    assert response.json() == {"detail": "catalog service timed out"}


async def test_health_is_503_naming_each_service_down(hung_url: str, closed_url: str) -> None:
    settings = GatewaySettings(
        embedder_url=closed_url, search_url=hung_url, catalog_url=closed_url, timeout_s=0.3
    )
    async with running_gateway(settings) as gw:
        response = await gw.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["services"] == {
        "gateway": "ok",
        "embedder": "embedder service unreachable",
        "search": "search service timed out",
        "catalog": "catalog service unreachable",
    }
    assert body["detail"] == "down: embedder, search, catalog"


# A catalog that fails in ways a real one only does when broken: the one place a fake is needed.
async def _broken(request) -> PlainTextResponse:
    return PlainTextResponse("Internal Server Error", status_code=500)


async def _gone(request) -> JSONResponse:
    return JSONResponse({"detail": "image 7 not found"}, status_code=404)


FAULTY_CATALOG = Starlette(
    routes=[Route("/v1/images", _broken), Route("/v1/images/{image_id}", _gone)]
)


async def test_downstream_5xx_is_502_and_4xx_passes_through() -> None:
    settings = GatewaySettings(  # keys off: the faulty catalog knows no keys
        embedder_url="http://catalog", search_url="http://catalog", catalog_url="http://catalog",
        auth="off",
    )
    transport = httpx.ASGITransport(app=FAULTY_CATALOG)
    async with running_gateway(settings, transport) as gw:
        failed = await gw.get("/api/v1/images")
        missing = await gw.get("/api/v1/images/7")
    assert failed.status_code == 502
    assert failed.json() == {"detail": "catalog service failed (HTTP 500)"}
    assert missing.status_code == 404
    assert missing.json() == {"detail": "image 7 not found"}
