"""The search service answers only callers that prove the service credential: before it, any
process on the host could count, delete and rewrite the index's points (issue #16)."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.support.search import unit_vectors
from tests.support.service_key import (
    SERVICE_HEADERS,
    WRONG_KEY_HEADERS,
    CountedBody,
    every_route,
    stranger,
)
from tests.support.services import search_app

POINTS = [{"id": i, "vector": v.tolist(), "payload": {"label": "copepod"}}
          for i, v in enumerate(unit_vectors(3, 8))]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The real search service on Qdrant Edge, holding three points of "plankton"."""
    app = search_app(tmp_path / "search")
    async with app.router.lifespan_context(app), stranger(app, SERVICE_HEADERS) as gateway:
        assert (await gateway.put("/v1/collections/plankton", json={"dim": 8})).status_code == 200
        stored = await gateway.put("/v1/collections/plankton/points", json={"points": POINTS})
        assert stored.status_code == 200, stored.text
        yield app


@pytest.mark.parametrize("headers", [None, WRONG_KEY_HEADERS], ids=["missing", "wrong"])
async def test_points_are_not_counted_deleted_or_rewritten_without_the_credential(app, headers):
    async with stranger(app, headers) as anyone:
        answers = [
            await anyone.get("/v1/collections/plankton/count"),
            await anyone.post("/v1/collections/plankton/points/delete", json={"ids": [0, 1, 2]}),
            await anyone.put("/v1/collections/plankton/points",
                             json={"points": [{**POINTS[0], "payload": {"label": "forged"}}]}),
            await anyone.post("/v1/collections/plankton/points/payload",
                              json={"ids": [0], "payload": {"label": "forged"}}),
        ]
    assert [a.status_code for a in answers] == [401] * 4
    assert all("service credential" in a.json()["detail"] for a in answers)
    async with stranger(app, SERVICE_HEADERS) as gateway:
        assert (await gateway.get("/v1/collections/plankton/count")).json() == {"count": 3}
        kept = await gateway.post("/v1/collections/plankton/points/retrieve", json={"ids": [0]})
    assert kept.json()["data"] == [{"id": 0, "payload": {"label": "copepod"}}]


async def test_a_30_mb_upsert_without_the_credential_is_refused_unread(app):
    body = CountedBody(chunks=30)
    async with stranger(app) as anyone:
        answer = await anyone.put("/v1/collections/plankton/points", content=body,
                                  headers={"Content-Type": "application/json"})
    assert answer.status_code == 401 and body.sent == 0


async def test_every_route_but_health_asks_for_the_credential(app):
    routes = every_route(app)
    assert ("POST", "/v1/collections/1/points/delete") in routes
    async with stranger(app) as anyone:
        for method, path in routes:
            answer = await anyone.request(method, path)
            assert answer.status_code == (200 if path == "/health" else 401), (method, path)
