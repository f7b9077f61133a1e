"""The catalog answers only callers that prove the service credential: before it, any process on
the host got an admin API key from it, and could write as any annotator (issue #16)."""

import pytest

from services.catalog.config import CatalogSettings
from services.catalog.main import create_app
from tests.support.catalog import Catalog
from tests.support.service_key import WRONG_KEY_HEADERS, CountedBody, every_route, stranger

ADMIN_KEY_REQUEST = {"role": "admin"}


async def test_no_admin_key_is_made_for_a_caller_without_the_credential(catalog: Catalog):
    annotator = await catalog.client.post("/v1/annotators", json={"name": "someone"})
    body = {"annotator_id": annotator.json()["id"], "role": "admin"}
    async with stranger(catalog.app) as anyone, stranger(catalog.app, WRONG_KEY_HEADERS) as guesser:
        missing = await anyone.post("/v1/api-keys", json=body)
        wrong = await guesser.post("/v1/api-keys", json=body)
    assert missing.status_code == 401
    assert "missing service credential" in missing.json()["detail"]
    assert wrong.status_code == 401 and "wrong service credential" in wrong.json()["detail"]
    assert (await catalog.client.get("/v1/api-keys")).json()["data"] == []


async def test_the_annotator_header_counts_for_nothing_without_the_credential(catalog: Catalog):
    annotator = (await catalog.client.post("/v1/annotators", json={"name": "victim"})).json()
    async with stranger(catalog.app, {"X-Nauplius-Annotator": str(annotator["id"])}) as anyone:
        answer = await anyone.post("/v1/jobs", json={"source": "forged"})
    assert answer.status_code == 401
    assert (await catalog.client.get("/v1/jobs")).json()["data"] == []


async def test_a_30_mb_body_without_the_credential_is_refused_unread(catalog: Catalog):
    body = CountedBody(chunks=30)
    async with stranger(catalog.app) as anyone:
        answer = await anyone.post("/v1/images/batch", content=body,
                                   headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert answer.status_code == 401
    assert body.sent == 0  # not a byte of it was asked for
    assert await catalog.row_count() == 0


async def test_every_route_but_health_asks_for_the_credential(catalog: Catalog):
    routes = every_route(catalog.app)
    assert ("POST", "/v1/api-keys") in routes and ("GET", "/openapi.json") in routes
    async with stranger(catalog.app) as anyone:
        for method, path in routes:
            answer = await anyone.request(method, path)
            expected = 200 if path == "/health" else 401
            assert answer.status_code == expected, (method, path, answer.text)


async def test_the_catalog_does_not_start_without_a_credential(catalog_database_url, tmp_path,
                                                               monkeypatch):
    monkeypatch.delenv("NAUPLIUS_SERVICE_KEY", raising=False)
    monkeypatch.delenv("NAUPLIUS_SERVICE_KEY_FILE", raising=False)
    app = create_app(CatalogSettings(database_url=catalog_database_url, data_dir=tmp_path))
    with pytest.raises(RuntimeError, match="no service credential: set NAUPLIUS_SERVICE_KEY_FILE"):
        async with app.router.lifespan_context(app):
            pass
