"""Search fixtures: each index backend (Qdrant Edge, qdrant-client local) behind the real app."""

from collections.abc import AsyncIterator

import httpx
import pytest

from services.search.main import create_app
from tests.support.search import open_edge, open_local_qdrant
from tests.support.service_key import SERVICE_HEADERS, SERVICE_KEY


@pytest.fixture(params=["edge", "qdrant-local"])
def backend(request, tmp_path):
    if request.param == "edge":
        return open_edge(tmp_path / "search")
    return open_local_qdrant()


@pytest.fixture
async def client(backend) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(index=backend, service_key=SERVICE_KEY)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://search",
                                     headers=SERVICE_HEADERS) as http:
            yield http
