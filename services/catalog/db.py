"""The asyncpg pool: jsonb codec on every connection, migrations applied at start."""

import json
import logging
import time

import anyio
import asyncpg

from services.catalog.config import CatalogSettings
from services.catalog.migrations import apply_migrations

logger = logging.getLogger("nauplius.catalog")


async def init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("jsonb", "json"):
        await conn.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def create_pool(settings: CatalogSettings) -> asyncpg.Pool:
    """Connect (waiting up to connect_timeout_s for the database to come up) and migrate."""
    deadline = time.monotonic() + settings.connect_timeout_s
    while True:
        try:
            pool = await asyncpg.create_pool(
                settings.database_url,
                password=settings.database_password(),
                min_size=settings.pool_min_size,
                max_size=settings.pool_max_size,
                init=init_connection,
            )
            break
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            if time.monotonic() >= deadline:
                raise
            logger.info("database not ready (%s); retrying", exc)
            await anyio.sleep(0.5)
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn)
    except BaseException:
        await pool.close()
        raise
    return pool
