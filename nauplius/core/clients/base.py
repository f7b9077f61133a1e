"""What every internal-service client shares: one httpx.AsyncClient, failures as named errors,
answers checked against the serving side's contract models.

Every call goes through `ServiceClient._send`, which proves the service credential
(`nauplius.core.service_auth`) and turns transport failures and error statuses
into the named exceptions of `nauplius.core.errors`; `_ask` validates the answer's JSON as a
contract model, and an answer that does not fit it is the service's failure (DownstreamFailed).
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from nauplius.core.errors import (
    DownstreamFailed,
    DownstreamRejected,
    DownstreamTimeout,
    DownstreamUnavailable,
)
from nauplius.core.observability import REQUEST_ID_HEADER, current_request_id
from nauplius.core.service_auth import SERVICE_KEY_HEADER

Json = dict[str, Any]
M = TypeVar("M", bound=BaseModel)


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

    def __init__(self, http: httpx.AsyncClient, base_url: str, service_key: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._service_key = service_key

    async def _send(self, method: str, path: str, *, stream: bool = False, **kw: Any) -> httpx.Response:
        """The successful response; any other ends in one of the Downstream* errors."""
        kw["headers"] = {**(kw.get("headers") or {}), SERVICE_KEY_HEADER: self._service_key}
        request_id = current_request_id()
        if request_id is not None:  # one id in every service's log for one request
            kw["headers"][REQUEST_ID_HEADER] = request_id
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
        if 400 <= response.status_code < 500:
            raise DownstreamRejected(self.service, response.status_code, _detail_of(response))
        raise DownstreamFailed(self.service, response.status_code)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise DownstreamFailed(self.service, response.status_code) from exc

    def _validated(self, answer: type[M], response: httpx.Response) -> M:
        try:
            return answer.model_validate(self._json(response))
        except ValidationError as exc:  # not the contract's answer: a failure of the service
            raise DownstreamFailed(self.service, response.status_code) from exc

    async def _ask(self, answer: type[M], method: str, path: str, **kw: Any) -> M:
        """The answer to one call, as the contract model the route answers."""
        return self._validated(answer, await self._send(method, path, **kw))

    async def _ask_or_none(self, answer: type[M], method: str, path: str, **kw: Any) -> M | None:
        """As `_ask`, but None where the service answers 404 (nothing there)."""
        try:
            return await self._ask(answer, method, path, **kw)
        except DownstreamRejected as exc:
            if exc.status_code == 404:
                return None
            raise

    async def _stream(self, path: str) -> ByteStream:
        response = await self._send("GET", path, stream=True)
        media_type = response.headers.get("content-type", "application/octet-stream")
        return ByteStream(media_type, response.aiter_bytes(), response)

    async def health(self, timeout_s: float) -> Json:
        """The service's /health answer, whatever its shape (each service has its own)."""
        body = self._json(await self._send("GET", "/health", timeout=timeout_s))
        if not isinstance(body, dict):
            raise DownstreamFailed(self.service, 200)
        return body
