"""Shared request dependencies."""

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Header, Request

from services.catalog.config import CatalogSettings
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
    """The annotator the gateway authenticated for this write (none when auth is off)."""
    return x_nauplius_annotator


ActorDep = Annotated[int | None, Depends(_actor)]
