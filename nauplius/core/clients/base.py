"""What every internal-service client shares: one httpx.AsyncClient, failures as named errors.

Every call goes through `ServiceClient._send`, which turns transport failures and error statuses
into the named exceptions of `nauplius.core.errors`.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from nauplius.core.errors import (
    DownstreamFailed,
    DownstreamRejected,
    DownstreamTimeout,
    DownstreamUnavailable,
)

Json = dict[str, Any]


@dataclass(frozen=True)
class FilePart:
    """One uploaded file on its way to a downstream service."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class ByteStream:
    """An open downstream response whose body is streamed to the caller, then closed."""

    media_type: str
    chunks: AsyncIterator[bytes]
    response: httpx.Response

    async def aclose(self) -> None:
        await self.response.aclose()


def _detail_of(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return body["detail"]
    return body


class ServiceClient:
    service: str

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")

    async def _send(
        self, method: str, path: str, *, not_found_ok: bool = False, stream: bool = False, **kw: Any
    ) -> httpx.Response | None:
        request = self._http.build_request(method, self._base + path, **kw)
        try:
            response = await self._http.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise DownstreamTimeout(self.service) from exc
        except httpx.TransportError as exc:  # ConnectError, other NetworkErrors, dropped connection
            raise DownstreamUnavailable(self.service) from exc
        if response.is_success:
            return response
        if stream:
            await response.aread()
            await response.aclose()
        if response.status_code == 404 and not_found_ok:
            return None
        if 400 <= response.status_code < 500:
            raise DownstreamRejected(self.service, response.status_code, _detail_of(response))
        raise DownstreamFailed(self.service, response.status_code)

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        response = await self._send(method, path, **kw)
        assert response is not None
        return self._json(response)

    async def _call_or_none(self, method: str, path: str, **kw: Any) -> Any:
        response = await self._send(method, path, not_found_ok=True, **kw)
        return None if response is None else self._json(response)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise DownstreamFailed(self.service, response.status_code) from exc

    async def _stream(self, path: str) -> ByteStream:
        response = await self._send("GET", path, stream=True)
        assert response is not None
        media_type = response.headers.get("content-type", "application/octet-stream")
        return ByteStream(media_type, response.aiter_bytes(), response)

    async def health(self, timeout_s: float) -> Json:
        return await self._call("GET", "/health", timeout=timeout_s)
