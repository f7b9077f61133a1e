"""Shared request dependencies."""

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Header, Request

from nauplius.core.contracts.catalog import Role
from services.catalog.access import Caller, Scope, scope_of
from services.catalog.config import CatalogSettings
from services.catalog.errors import InvalidMetadata
from services.catalog.ingest import Ingestor
from services.catalog.staging import StagingStore


async def _connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with request.app.state.pool.acquire() as conn:
        yield conn


def _ingestor(request: Request) -> Ingestor:
    state: Ingestor = request.app.state.ingestor  # set in the lifespan
    return state


def _settings(request: Request) -> CatalogSettings:
    state: CatalogSettings = request.app.state.settings  # set in the lifespan
    return state


def _staging(request: Request) -> StagingStore:
    return StagingStore(request.app.state.settings.data_dir)


ConnectionDep = Annotated[asyncpg.Connection, Depends(_connection)]
IngestorDep = Annotated[Ingestor, Depends(_ingestor)]
SettingsDep = Annotated[CatalogSettings, Depends(_settings)]
StagingDep = Annotated[StagingStore, Depends(_staging)]


def _actor(
    x_nauplius_annotator: Annotated[int | None, Header(ge=1)] = None,
) -> int | None:
    """The annotator the gateway authenticated for this write (none when auth is off).

    Trusted only because the caller proved the service credential (ServiceKeyMiddleware answers
    401 to any request without it before this runs): only the gateway, the worker and the command
    line hold it, and only the gateway speaks for a person."""
    return x_nauplius_annotator


ActorDep = Annotated[int | None, Depends(_actor)]


def _caller(
    x_nauplius_annotator: Annotated[int | None, Header(ge=1)] = None,
    x_nauplius_role: Annotated[Role | None, Header()] = None,
) -> Caller:
    """Who the gateway speaks for, and their key's role; neither: a service's own call."""
    if x_nauplius_role is not None and x_nauplius_annotator is None:
        raise InvalidMetadata("X-Nauplius-Role needs X-Nauplius-Annotator")
    return Caller(x_nauplius_annotator, x_nauplius_role)


CallerDep = Annotated[Caller, Depends(_caller)]


async def _scope(conn: ConnectionDep, caller: CallerDep) -> Scope:
    return await scope_of(conn, caller)


# The caller's role in each project (services/catalog/access.py).
ScopeDep = Annotated[Scope, Depends(_scope)]
