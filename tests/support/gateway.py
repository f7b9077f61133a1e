"""The gateway in-process, behind an httpx client."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from gateway.config import GatewaySettings
from gateway.main import create_app
from nauplius.core.contracts.gateway import CLIENT_HEADER
from tests.support.service_key import SERVICE_KEY


@asynccontextmanager
async def running_gateway(
    settings: GatewaySettings, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app with its lifespan running, behind an httpx client; it proves the tests'
    service credential to its services."""
    app = create_app(settings, transport=transport, service_key=SERVICE_KEY)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway",
        headers={CLIENT_HEADER: "1"},  # as every real client sends it (needed with auth off)
    ) as client:
        yield client
