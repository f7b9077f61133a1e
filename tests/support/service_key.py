"""The service credential the in-process services and their test clients share, and what a
process without it looks like."""

import re
import secrets
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp

from nauplius.core.service_auth import SERVICE_KEY_HEADER

SERVICE_KEY = secrets.token_urlsafe(32)
# What a test's direct client of a service sends, as the gateway and the worker do.
SERVICE_HEADERS = {SERVICE_KEY_HEADER: SERVICE_KEY}
WRONG_KEY_HEADERS = {SERVICE_KEY_HEADER: secrets.token_urlsafe(32)}


def stranger(app: ASGIApp, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """A client of the in-process `app` that sends no service credential (or `headers`): any
    other process on the host."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service",
                             headers=headers)


class CountedBody(httpx.AsyncByteStream):
    """A request body of `chunks` x `chunk_size` bytes, streamed; `sent` counts the chunks that
    the server asked for."""

    def __init__(self, chunks: int, chunk_size: int = 1024 * 1024) -> None:
        self.chunks, self.chunk = chunks, b"\0" * chunk_size
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.sent += 1
            yield self.chunk


def every_route(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route in the app's OpenAPI schema, path parameters filled with 1,
    and the schema and docs pages themselves."""
    routes = [("GET", "/openapi.json"), ("GET", "/docs")]
    for path, operations in app.openapi()["paths"].items():
        routes += [(method.upper(), re.sub(r"\{[^}]+\}", "1", path)) for method in operations]
    return routes
