"""`nauplius up`: the whole system on this machine, with embedded PostgreSQL and Qdrant Edge."""
from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nauplius.core.service_auth import ServiceKeyError
from nauplius.stack import (
    Stack,
    StackError,
    admin_key_file,
    default_ports,
    interrupted_by_sigterm,
    stack_environment,
)

log = logging.getLogger("nauplius.up")
PGSERVER_START_ATTEMPTS = 6
# A service that dies is restarted, unless it died more than this often in the window.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 300.0


def embedded_postgres_url(data_dir: Path) -> str:
    """Start (or reuse) a private PostgreSQL 16 from the `pgserver` wheel inside the data directory.

    pgserver stops the server when this process exits, provided the data directory still exists
    then (its list of users lies inside): to remove the directory, use `embedded_postgres`.
    """
    return start_embedded_postgres(data_dir).get_uri()


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """The embedded PostgreSQL's URL; the server is stopped on leaving, before anything can
    delete its directory."""
    server = start_embedded_postgres(data_dir)
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def start_embedded_postgres(data_dir: Path):
    import pgserver

    for attempt in range(PGSERVER_START_ATTEMPTS):
        try:
            return pgserver.get_server(data_dir / "postgres", cleanup_mode="stop")
        except subprocess.TimeoutExpired:
            # pgserver gives `pg_ctl start` a fixed 10 s; on a loaded machine PostgreSQL may need
            # longer. It keeps starting, and the next attempt finds and reuses the running server.
            log.warning("embedded PostgreSQL slow to start (attempt %d)", attempt + 1)
            time.sleep(2.0)
    raise RuntimeError(f"embedded PostgreSQL in {data_dir / 'postgres'} did not start; "
                       f"see {data_dir / 'postgres' / 'log'}")


def run_up(data_dir: Path, port: int) -> int:
    """Runs until Ctrl-C; returns the exit code (1 if a service died, 2 if the data directory's
    service credential is refused)."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("CATALOG_DATABASE_URL")
    if not database_url:
        print(f"Starting embedded PostgreSQL in {data_dir / 'postgres'} ...", flush=True)
        database_url = embedded_postgres_url(data_dir)
    if not os.environ.get("QDRANT_URL"):
        print(f"Using embedded Qdrant Edge in {data_dir / 'search'}", flush=True)
    ports = default_ports(port)
    try:
        environment = stack_environment(ports, data_dir, database_url)
    except ServiceKeyError as error:  # the data directory's credential file is refused
        print(f"nauplius up: {error}", flush=True)
        return 2
    stack = Stack(ports, environment, data_dir / "logs")
    with interrupted_by_sigterm():  # a process manager's SIGTERM stops it like Ctrl-C
        print("Starting embedder, search, catalog, gateway and the ingest worker ...", flush=True)
        stack.start()
        try:
            for name, service in stack.services.items():
                print(f"  {name:<9} {service.url}  (log: {service.log_path})")
            key_file = admin_key_file(data_dir)
            print(f"\nThe admin API key is in {key_file}; for the command line:\n"
                  f"  export NAUPLIUS_API_KEY=$(cat {key_file})")
            print(f"\nNauplius is running at http://127.0.0.1:{port}/  (Ctrl-C stops it)",
                  flush=True)
            deaths: dict[str, list[float]] = {name: [] for name in stack.services}
            while True:
                for name, service in list(stack.services.items()):
                    if service.process.poll() is None:
                        continue
                    print(f"{name} stopped unexpectedly (code {service.process.returncode}):\n"
                          f"{service.log_tail()}", flush=True)
                    now = time.monotonic()
                    deaths[name] = [t for t in deaths[name] if now - t < RESTART_WINDOW_S] + [now]
                    if len(deaths[name]) > MAX_RESTARTS:
                        print(f"{name} stopped {len(deaths[name])} times in "
                              f"{RESTART_WINDOW_S:.0f} s: stopping everything", flush=True)
                        return 1
                    # One service down is not the whole system down: the others keep their
                    # work (jobs are leased, the outbox retries), so bring back just this one.
                    print(f"restarting {name} ...", flush=True)
                    try:
                        stack.restart(name)
                    except StackError as error:
                        print(f"{name} did not come back: {error}", flush=True)
                        return 1
                    print(f"{name} is back at {stack.services[name].url}", flush=True)
                time.sleep(1.0)
        except KeyboardInterrupt:
            print("\nStopping ...", flush=True)
        finally:
            stack.stop()
    return 0
