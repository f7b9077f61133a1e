"""The real processes of `nauplius up` on a fresh test database (the system tests)."""

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.database import create_database, drop_database


@contextlib.contextmanager
def running_stack(data_dir: Path, database_prefix: str, **environment: str) -> Iterator[Any]:
    """The real processes (nauplius/stack.py) on a fresh test database, API keys on; the stack gets
    `.api_key`, the catalog's first admin key. Stopped and its database dropped on exit."""
    from nauplius.stack import SERVICE_APPS, Stack, admin_key_file, free_ports, stack_environment

    database_url = asyncio.run(create_database(database_prefix))
    try:
        ports = free_ports(SERVICE_APPS)
        env = stack_environment(ports, data_dir, database_url)
        env.update(GATEWAY_AUTH="on", **environment)
        stack: Any = Stack(ports, env, data_dir / "logs")  # given .api_key below
        try:
            stack.start()
            stack.api_key = admin_key_file(data_dir).read_text().strip()
            yield stack
        finally:
            stack.stop()
    finally:
        asyncio.run(drop_database(database_url))
