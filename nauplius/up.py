"""`nauplius up`: the whole system on this machine, with embedded PostgreSQL and Qdrant Edge."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from nauplius.stack import Stack, admin_key_file, default_ports, stack_environment

log = logging.getLogger("nauplius.up")
PGSERVER_START_ATTEMPTS = 6


def embedded_postgres_url(data_dir: Path) -> str:
    """Start (or reuse) a private PostgreSQL 16 from the `pgserver` wheel inside the data directory.

    pgserver stops the server when this process exits.
    """
    import pgserver

    for attempt in range(PGSERVER_START_ATTEMPTS):
        try:
            server = pgserver.get_server(data_dir / "postgres", cleanup_mode="stop")
            return server.get_uri()
        except subprocess.TimeoutExpired:
            # pgserver gives `pg_ctl start` a fixed 10 s; on a loaded machine PostgreSQL may need
            # longer. It keeps starting, and the next attempt finds and reuses the running server.
            log.warning("embedded PostgreSQL slow to start (attempt %d)", attempt + 1)
            time.sleep(2.0)
    raise RuntimeError(f"embedded PostgreSQL in {data_dir / 'postgres'} did not start; "
                       f"see {data_dir / 'postgres' / 'log'}")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_up(data_dir: Path, port: int) -> int:
    """Runs until Ctrl-C; returns the exit code (1 if a service died)."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("CATALOG_DATABASE_URL")
    if not database_url:
        print(f"Starting embedded PostgreSQL in {data_dir / 'postgres'} ...", flush=True)
        database_url = embedded_postgres_url(data_dir)
    if not os.environ.get("QDRANT_URL"):
        print(f"Using embedded Qdrant Edge in {data_dir / 'search'}", flush=True)
    ports = default_ports(port)
    stack = Stack(ports, stack_environment(ports, data_dir, database_url), data_dir / "logs")
    # SIGTERM (e.g. from a process manager) stops the services like Ctrl-C does; and Ctrl-C
    # (SIGINT) works even when a script started us in the background, where it is ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print("Starting embedder, search, catalog, gateway and the ingest worker ...", flush=True)
    stack.start()
    try:
        for name, service in stack.services.items():
            print(f"  {name:<9} {service.url}  (log: {service.log_path})")
        key_file = admin_key_file(data_dir)
        print(f"\nThe admin API key is in {key_file}; for the command line:\n"
              f"  export NAUPLIUS_API_KEY=$(cat {key_file})")
        print(f"\nNauplius is running at http://127.0.0.1:{port}/  (Ctrl-C stops it)", flush=True)
        while True:
            for service in stack.services.values():
                if service.process.poll() is not None:
                    print(f"{service.name} stopped unexpectedly (code {service.process.returncode}):\n"
                          f"{service.log_tail()}", flush=True)
                    return 1
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    finally:
        stack.stop()
    return 0
