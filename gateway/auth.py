"""API keys: who is calling, and may they do this.

A request carries its key as `Authorization: Bearer <key>` or `X-API-Key: <key>`. The gateway
hashes it (sha256) and asks the catalog who it belongs to; answers are cached for a few seconds,
so a revoked key stops working within `AUTH_CACHE_S`. With `GATEWAY_AUTH=off` (a single-user
workstation) every request acts as a local admin and writes record no annotator.
gateway.perimeter identifies the caller (identify) before any body is read; the role
dependencies below take the Principal it left on request.state.
"""

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.requests import HTTPConnection

from nauplius.core.clients import Downstream
from nauplius.core.contracts.catalog import Role

ROLES: tuple[Role, ...] = ("viewer", "annotator", "admin")
AUTH_CACHE_S = 10.0
KEY_COOKIE = "nauplius_api_key"
# request.state attribute under which gateway.perimeter leaves the caller's Principal.
PRINCIPAL_STATE = "principal"
NO_KEY = "an API key is needed: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
UNAUTHORISED = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Principal:
    role: Role
    annotator_id: int | None = None
    name: str | None = None
    institution: str | None = None

    def may(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


LOCAL_ADMIN = Principal("admin", None, None, None)


class KeyCache:
    """key hash -> (principal or None, when looked up)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Principal | None, float]] = {}

    async def resolve(self, downstream: Downstream, key: str) -> Principal | None:
        key_hash = hashlib.sha256(key.encode()).hexdigest()
        cached = self._entries.get(key_hash)
        if cached is not None and time.monotonic() - cached[1] < AUTH_CACHE_S:
            return cached[0]
        found = await downstream.catalog.principal(key_hash)
        principal = None if found is None else Principal(
            found.role, found.annotator_id, found.name, found.institution)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key_hash] = (principal, time.monotonic())
        return principal

    def clear(self) -> None:
        """Forget every answer (a key was revoked here: it stops working at once)."""
        self._entries.clear()


def presented_key(connection: HTTPConnection) -> str | None:
    """The key a request carries, from its headers alone."""
    header = connection.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = connection.headers.get("x-api-key")
    if key and key.strip():
        return key.strip()
    # <img src> and download links cannot send headers: the browser frontend keeps its key in a
    # SameSite=Strict cookie, honoured for reads only so that no write can be forged cross-site.
    if connection.scope.get("method") in ("GET", "HEAD"):
        key = connection.cookies.get(KEY_COOKIE)
        return key.strip() if key and key.strip() else None
    return None


async def identify(connection: HTTPConnection) -> Principal:
    """Who sends this request: 401 without a key or with an unknown one. Reads no body."""
    state = connection.app.state
    if state.settings.auth == "off":
        return LOCAL_ADMIN
    key = presented_key(connection)
    if key is None:
        raise HTTPException(401, NO_KEY, headers=UNAUTHORISED)
    cache: KeyCache = state.key_cache
    principal = await cache.resolve(state.downstream, key)
    if principal is None:
        raise HTTPException(401, "unknown or revoked API key", headers=UNAUTHORISED)
    return principal


async def current_principal(request: Request) -> Principal:
    # gateway.perimeter identified the caller before the body was read; identify() again only
    # where a request did not pass it (an app assembled without the perimeter).
    principal: Principal | None = getattr(request.state, PRINCIPAL_STATE, None)
    return principal if principal is not None else await identify(request)


def refusal(principal: Principal, role: Role) -> str | None:
    """Why `principal` may not do what needs `role`, or None when it may."""
    if principal.may(role):
        return None
    return f"this needs the {role} role; your key is {principal.role}"


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that answers 403 unless the caller's key carries `role` or a higher one."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        reason = refusal(principal, role)
        if reason is not None:
            raise HTTPException(403, reason)
        return principal

    return check


Viewer = Annotated[Principal, Depends(require("viewer"))]
Annotator = Annotated[Principal, Depends(require("annotator"))]
Admin = Annotated[Principal, Depends(require("admin"))]
