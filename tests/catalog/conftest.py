"""Catalog fixtures beyond the suite's own (tests/conftest.py: `zoolake`, the migrated
`catalog_database_url` and the real `catalog` app): a bare connection for the query modules."""

from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.catalog.db import init_connection
from tests.support.catalog import empty_catalog


@pytest.fixture
async def conn(catalog_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that is rolled back after the test, on an emptied catalog
    (the session database is the whole suite's: other directories' tests leave rows in it)."""
    await empty_catalog(catalog_database_url)
    connection = await asyncpg.connect(catalog_database_url)
    await init_connection(connection)
    transaction = connection.transaction()
    await transaction.start()
    try:
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()
