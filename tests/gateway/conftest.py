"""Downstreams for the in-process gateway (tests.support.gateway) that are unreachable or hung,
and the whole system in-process."""

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from gateway.config import GatewaySettings
from tests.support.gateway import running_gateway
from tests.support.service_key import SERVICE_HEADERS
from tests.support.services import in_process_services


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


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(gateway client with the admin key, catalog client) with all four apps running in-process,
    configured from the environment as `nauplius up` serves them. A module with a `stack` of its
    own (a real system: tests.support.stack) uses that one instead."""
    settings = GatewaySettings(
        embedder_url="http://embedder", search_url="http://search", catalog_url="http://catalog",
        auth="on",
    )
    async with AsyncExitStack() as stack:
        router = await stack.enter_async_context(in_process_services(tmp_path, "nauplius_gw_test"))
        gateway = await stack.enter_async_context(running_gateway(settings, router))
        # The admin key the catalog created at start, as `nauplius up` hands it out.
        key = (tmp_path / "admin-api-key").read_text().strip()
        gateway.headers["Authorization"] = f"Bearer {key}"
        catalog = await stack.enter_async_context(
            httpx.AsyncClient(transport=router, base_url="http://catalog", headers=SERVICE_HEADERS)
        )
        yield gateway, catalog
