"""Test databases on the PostgreSQL server named by NAUPLIUS_TEST_DATABASE_URL.

Every test that needs PostgreSQL gets its database from here, so one variable points the whole
suite at another server.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

# The server's maintenance database: test databases are created and dropped through it.
ADMIN_DATABASE_URL = os.environ.get("NAUPLIUS_TEST_DATABASE_URL",
                                    "postgresql://root@127.0.0.1:5432/test")


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


async def create_database(prefix: str) -> str:
    """A new, empty database on the test server; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DATABASE_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return _with_database(ADMIN_DATABASE_URL, name)


async def drop_database(url: str) -> None:
    name = url.rpartition("/")[2]
    admin = await asyncpg.connect(ADMIN_DATABASE_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def fresh_database(prefix: str) -> AsyncIterator[str]:
    """A new, empty database for the duration of the block, dropped after it."""
    url = await create_database(prefix)
    try:
        yield url
    finally:
        await drop_database(url)
