"""Shared fixtures: the real data set folder and fresh PostgreSQL databases."""
from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path

import asyncpg
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
ADMIN_DATABASE_URL = os.environ.get("NAUPLIUS_TEST_DATABASE_URL",
                                    "postgresql://root@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared data set is missing at {SHARED_DATA} (see README)")
    return SHARED_DATA


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


@contextlib.contextmanager
def running_stack(data_dir: Path, database_prefix: str, **environment: str):
    """The real processes (nauplius/stack.py) on a fresh test database, API keys on; the stack gets
    `.api_key`, the catalog's first admin key. Stopped and its database dropped on exit."""
    from nauplius.stack import SERVICE_APPS, Stack, admin_key_file, free_ports, stack_environment

    database_url = asyncio.run(create_database(database_prefix))
    ports = free_ports(SERVICE_APPS)
    env = stack_environment(ports, data_dir, database_url)
    env.update(GATEWAY_AUTH="on", **environment)
    stack = Stack(ports, env, data_dir / "logs")
    try:
        stack.start()
        stack.api_key = admin_key_file(data_dir).read_text().strip()
        yield stack
    finally:
        stack.stop()
        asyncio.run(drop_database(database_url))
