"""The embedder answers only callers that prove the service credential (issue #16): its CPU is
the system's most precious, and no other process on the host may spend it."""

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from tests.support.data import first_images
from tests.support.service_key import WRONG_KEY_HEADERS, CountedBody, every_route, stranger
from tests.support.services import embedder_app


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    app = embedder_app()
    async with app.router.lifespan_context(app):
        yield app


@pytest.mark.parametrize("headers", [None, WRONG_KEY_HEADERS], ids=["missing", "wrong"])
async def test_nothing_is_embedded_without_the_credential(app, headers):
    image = first_images("zoolake/daphnia")[0]
    async with stranger(app, headers) as anyone:
        answer = await anyone.post("/v1/embed", files={"files": (image.name, image.read_bytes())})
    assert answer.status_code == 401 and "service credential" in answer.json()["detail"]


async def test_a_30_mb_upload_without_the_credential_is_refused_unread(app):
    body = CountedBody(chunks=30)
    async with stranger(app) as anyone:
        answer = await anyone.post("/v1/embed", content=body,
                                   headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert answer.status_code == 401 and body.sent == 0


async def test_every_route_but_health_asks_for_the_credential(app):
    routes = every_route(app)
    assert ("POST", "/v1/embed") in routes and ("GET", "/v1/model") in routes
    async with stranger(app) as anyone:
        for method, path in routes:
            answer = await anyone.request(method, path)
            assert answer.status_code == (200 if path == "/health" else 401), (method, path)
