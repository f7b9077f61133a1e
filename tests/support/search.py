"""The search service's index backends opened for a test, and random unit vectors to fill them."""

import numpy as np
from qdrant_client import AsyncQdrantClient

from services.search.backends.edge import EdgeIndex
from services.search.backends.qdrant_server import CollectionLayout, QdrantServerIndex

# qdrant-client's local mode warns that payload indexes do nothing there; the server uses them.
LOCAL_INDEX_WARNING = "ignore:Payload indexes have no effect:UserWarning"


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# Small shards, so that every Edge test also spreads its points over several shards.
TEST_SHARD_POINTS = 1000


def open_edge(path, **options) -> EdgeIndex:
    """A Qdrant Edge index in `path` that builds only when the test calls optimize(), with
    TEST_SHARD_POINTS ids per shard."""
    options.setdefault("optimize_delay_s", 3600.0)
    options.setdefault("indexing_threshold_kb", 100)
    options.setdefault("shard_points", TEST_SHARD_POINTS)
    return EdgeIndex.open(path, **options)


def open_local_qdrant() -> QdrantServerIndex:
    """The Qdrant server backend over qdrant-client's in-memory local mode: exact search, which
    has no quantization (and warns at search params); tests/search/test_qdrant_server_config.py
    checks what a server is asked for."""
    return QdrantServerIndex(client=AsyncQdrantClient(location=":memory:"),
                             layout=CollectionLayout(quantization="none"))
