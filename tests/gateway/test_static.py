"""The frontend and the vendored jQuery are served."""

from pathlib import Path

import xstatic.pkg.jquery as xstatic_jquery

from gateway.config import GatewaySettings
from tests.support.gateway import running_gateway


async def test_index_page_loads_jquery_and_app(unreachable_settings: GatewaySettings) -> None:
    async with running_gateway(unreachable_settings) as gw:
        page = await gw.get("/")
        app_js = await gw.get("/static/app.js")
        css = await gw.get("/static/style.css")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/vendor/jquery/jquery.min.js">' in page.text
    assert app_js.status_code == 200 and "/api/v1/images" in app_js.text
    assert css.status_code == 200 and "display: grid" in css.text


async def test_jquery_comes_from_the_installed_package(unreachable_settings: GatewaySettings) -> None:
    async with running_gateway(unreachable_settings) as gw:
        response = await gw.get("/static/vendor/jquery/jquery.min.js")
    assert response.status_code == 200
    assert response.content == (Path(xstatic_jquery.BASE_DIR) / "jquery.min.js").read_bytes()
    assert response.text.startswith("/*! jQuery v3.7.1")
