"""Downstreams for the in-process gateway (tests.support.gateway) that are unreachable or hung."""

import socket
from collections.abc import Iterator

import pytest

from gateway.config import GatewaySettings


@pytest.fixture
def closed_url() -> str:
    """A localhost URL on which nothing listens: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def hung_url() -> Iterator[str]:
    """A localhost URL whose server accepts connections but never answers (a hung service)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def unreachable_settings(closed_url: str) -> GatewaySettings:
    # Keys off: no catalog answers who a key is; these tests are about what the gateway refuses
    # itself or maps from a dead service (keys are tested in test_labelling_api.py).
    return GatewaySettings(
        embedder_url=closed_url, search_url=closed_url, catalog_url=closed_url, timeout_s=2.0,
        auth="off",
    )
