"""The gateway's door: who calls, and how much they may send, settled before a body is read.

A pure ASGI middleware (BaseHTTPMiddleware would wrap the body it must leave unread). For every
path but the frontend and /health, from the headers alone:
1. with GATEWAY_AUTH=off, a write must carry CLIENT_HEADER (403), so no other site's form writes;
2. the caller's key is resolved (401 without reading the body) and the Principal left on
   request.state for gateway.auth's role dependencies;
3. the routes that take large bodies check their least role here too: a viewer's archive is
   refused before it is spooled, not after;
4. the body is capped per route: a Content-Length over the cap is a 413 at once, and a body that
   streams past it is a 413 as soon as it does.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth import PRINCIPAL_STATE, identify, refusal
from gateway.config import GatewaySettings
from nauplius.core.contracts.catalog import Role
from nauplius.core.contracts.gateway import CLIENT_HEADER
from nauplius.core.errors import DownstreamError

# Multipart boundaries, part headers and the small form fields around one query image.
MULTIPART_OVERHEAD = 64 * 1024
READS = ("GET", "HEAD", "OPTIONS")
JOB_ITEMS = re.compile(r"/api/v1/jobs/[^/]+/items")


@dataclass(frozen=True)
class Door:
    """What one group of routes lets in: a body cap, the setting that holds it, and the least
    role checked before the body (the route's own dependency checks the exact one)."""

    cap: int
    setting: str
    role: Role = "viewer"


def door(method: str, path: str, settings: GatewaySettings) -> Door:
    if method == "POST":
        if path == "/api/v1/search":
            return Door(settings.max_upload_bytes + MULTIPART_OVERHEAD, "GATEWAY_MAX_UPLOAD_BYTES")
        if path == "/api/v1/images" or JOB_ITEMS.fullmatch(path):
            return Door(settings.max_upload_request_bytes, "GATEWAY_MAX_UPLOAD_REQUEST_BYTES",
                        "annotator")
        if path == "/api/v1/jobs":
            return Door(settings.max_archive_bytes, "GATEWAY_MAX_ARCHIVE_BYTES", "annotator")
        if path == "/api/v1/taxa/import":
            return Door(settings.max_taxa_csv_bytes, "GATEWAY_MAX_TAXA_CSV_BYTES", "admin")
    return Door(settings.max_body_bytes, "GATEWAY_MAX_BODY_BYTES")


def is_open(path: str) -> bool:
    """The static frontend and the health probe need no key; every other path does."""
    return path in ("/", "/index.html", "/health") or path.startswith("/static/")


def route_path(scope: Scope) -> str:
    """The path the router matches: without the root_path a proxy mounted the gateway under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root):]
    return path


class BodyTooLarge(HTTPException):
    def __init__(self, door: Door, path: str) -> None:
        super().__init__(413, f"request body too large: {path} takes at most {door.cap} bytes "
                              f"({door.setting})")


def _declared_length(connection: HTTPConnection) -> int | None:
    value = connection.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def capped(receive: Receive, door: Door, path: str) -> Receive:
    """`receive`, counting the body's bytes: BodyTooLarge once they pass the door's cap."""
    received = 0

    async def receive_capped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > door.cap:
                raise BodyTooLarge(door, path)
        return message

    return receive_capped


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: Any,
                  headers: Mapping[str, str] | None = None) -> None:
    await JSONResponse({"detail": detail}, status_code=status, headers=headers)(scope, receive, send)


class Perimeter:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope) if scope["type"] == "http" else ""
        if scope["type"] != "http" or is_open(path):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        settings: GatewaySettings = connection.app.state.settings
        method: str = scope["method"]
        entry = door(method, path, settings)
        try:
            if settings.auth == "off" and method not in READS and not connection.headers.get(CLIENT_HEADER):
                raise HTTPException(403, f"a write needs the header '{CLIENT_HEADER}: 1' (with "
                                         "GATEWAY_AUTH=off it keeps other sites' forms out)")
            principal = await identify(connection)
            reason = refusal(principal, entry.role)
            if reason is not None:
                raise HTTPException(403, reason)
            declared = _declared_length(connection)
            if declared is not None and declared > entry.cap:
                raise BodyTooLarge(entry, path)
        except HTTPException as exc:
            await _refuse(scope, receive, send, exc.status_code, exc.detail, exc.headers)
            return
        except DownstreamError as exc:  # the catalog could not say who the key is
            await _refuse(scope, receive, send, exc.status_code, exc.detail)
            return
        scope.setdefault("state", {})[PRINCIPAL_STATE] = principal

        started = False

        async def send_watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped(receive, entry, path), send_watched)
        except BodyTooLarge as exc:
            # Routes answer it as any HTTPException; this catches a read outside their handling.
            if started:
                raise
            await _refuse(scope, receive, send, exc.status_code, exc.detail)
