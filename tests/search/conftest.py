from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient

from services.search.backends.edge import EdgeIndex
from services.search.backends.qdrant_server import QdrantServerIndex
from services.search.main import create_app

# qdrant-client's local mode warns that payload indexes do nothing there; the server uses them.
LOCAL_INDEX_WARNING = "ignore:Payload indexes have no effect:UserWarning"


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def open_edge(path, **options) -> EdgeIndex:
    options.setdefault("optimize_delay_s", 3600.0)  # tests call optimize() themselves
    options.setdefault("indexing_threshold_kb", 100)
    return EdgeIndex.open(path, **options)


def open_local_qdrant() -> QdrantServerIndex:
    return QdrantServerIndex(client=AsyncQdrantClient(location=":memory:"))


@pytest.fixture(params=["edge", "qdrant-local"])
def backend(request, tmp_path):
    if request.param == "edge":
        return open_edge(tmp_path / "search")
    return open_local_qdrant()


@pytest.fixture
async def client(backend) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(index=backend)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://search") as http:
            yield http
