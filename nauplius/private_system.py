"""A whole private Nauplius system in a temporary folder, for benchmarks: its own PostgreSQL
(pgserver, unless a database URL is given), its own Qdrant Edge index, free ports, API keys on.

    with private_system("nauplius-bench-") as system:
        ingest([folder], system.url, api_key=system.api_key)
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from nauplius.core.contracts.gateway import gateway_headers
from nauplius.stack import (
    SERVICE_APPS,
    Stack,
    admin_key_file,
    free_ports,
    interrupted_by_sigterm,
    stack_environment,
)


@dataclass
class PrivateSystem:
    data_dir: Path  # the temporary folder; removed when the context ends
    stack: Stack
    api_key: str  # the catalog's first admin key

    @property
    def url(self) -> str:
        return self.stack.services["gateway"].url

    def client(self, timeout_s: float = 600.0) -> httpx.Client:
        """An HTTP client for the gateway that sends the admin key."""
        return httpx.Client(base_url=self.url, timeout=timeout_s,
                            headers=gateway_headers(self.api_key))


def service_settings(pairs: list[str]) -> dict[str, str]:
    """The benches' `--set KEY=VALUE` arguments as the `env` of `private_system`."""
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set wants KEY=VALUE, got {pair!r}")
        settings[key] = value
    return settings


@contextmanager
def private_system(prefix: str = "nauplius-private-", env: dict[str, str] | None = None,
                   database_url: str | None = None) -> Iterator[PrivateSystem]:
    """Start the five services on free ports; stop them and remove everything on exit.

    SIGTERM stops it like Ctrl-C: the services and the embedded PostgreSQL do not outlive it.
    `env` overrides service settings (e.g. {"EMBEDDER_THREADS": "2"}). Without `database_url` an
    embedded PostgreSQL starts inside the folder; a given database should be empty and private.
    """
    with (interrupted_by_sigterm(), tempfile.TemporaryDirectory(prefix=prefix) as folder,
          ExitStack() as database):
        data_dir = Path(folder)
        if database_url is None:
            from nauplius.up import embedded_postgres
            database_url = database.enter_context(embedded_postgres(data_dir))
        ports = free_ports(SERVICE_APPS)
        environment = stack_environment(ports, data_dir, database_url)
        # A private system: its own database and index, whatever the caller's shell points at.
        environment["CATALOG_DATABASE_URL"] = database_url
        environment.pop("QDRANT_URL", None)
        environment.pop("SEARCH_QDRANT_URL", None)
        environment["GATEWAY_AUTH"] = "on"
        environment.update(env or {})
        with Stack(ports, environment, data_dir / "logs") as stack:
            yield PrivateSystem(data_dir, stack, admin_key_file(data_dir).read_text().strip())
