"""The worker's own app: /health answers anyone, every other route (its schema and docs, and
whatever is added later) asks for the service credential, and it does not start without one."""

import socket

import pytest

from services.worker.config import WorkerSettings
from services.worker.main import create_app
from tests.support.service_key import SERVICE_HEADERS, SERVICE_KEY, every_route, stranger


@pytest.fixture
def settings() -> WorkerSettings:
    with socket.socket() as sock:  # a port nobody listens on: the services are away
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    return WorkerSettings(embedder_url=closed, search_url=closed, catalog_url=closed,
                          idle_poll_s=5.0)


async def test_only_health_answers_without_the_credential(settings):
    app = create_app(settings, service_key=SERVICE_KEY)
    async with app.router.lifespan_context(app), stranger(app) as anyone, \
            stranger(app, SERVICE_HEADERS) as operator:
        for method, path in every_route(app):
            answer = await anyone.request(method, path)
            assert answer.status_code == (200 if path == "/health" else 401), (method, path)
        assert (await operator.get("/openapi.json")).status_code == 200


async def test_the_worker_does_not_start_without_a_credential(settings, monkeypatch):
    monkeypatch.delenv("NAUPLIUS_SERVICE_KEY", raising=False)
    monkeypatch.delenv("NAUPLIUS_SERVICE_KEY_FILE", raising=False)
    app = create_app(settings)
    with pytest.raises(RuntimeError, match="no service credential"):
        async with app.router.lifespan_context(app):
            pass
