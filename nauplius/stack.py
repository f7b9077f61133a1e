"""Run the four Nauplius services as separate local processes (used by `nauplius up` and the tests)."""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from nauplius.core.service_auth import (
    SERVICE_KEY_ENV,
    SERVICE_KEY_FILE_ENV,
    SERVICE_KEY_HEADER,
    ensure_key_file,
    service_key_from_environment,
)

log = logging.getLogger("nauplius.stack")

# name -> ASGI app path; the gateway comes last so it starts against services that already answer.
SERVICE_APPS = {
    "embedder": "services.embedder.main:app",
    "search": "services.search.main:app",
    "catalog": "services.catalog.main:app",
    "gateway": "gateway.main:app",
    # Indexes the items of ingest jobs; answers /health only. More workers may run elsewhere.
    "worker": "services.worker.main:app",
}

# How long a service keeps an idle connection open (uvicorn's --timeout-keep-alive, 5 s by
# default). httpx, the services' own client, keeps one for 5 s too: a call sent on it the instant
# the server closes it reads nothing back ("search service unreachable" in the labelling bench under
# load). A server that waits longer than its callers lets them drop the connection first. The
# Dockerfiles pass the same value.
KEEP_ALIVE_S = 30


def service_command(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--timeout-keep-alive", str(KEEP_ALIVE_S), "--no-access-log"]


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextmanager
def interrupted_by_sigterm() -> Iterator[None]:
    """Inside, SIGTERM (a process manager, `kill`) raises KeyboardInterrupt like Ctrl-C, so the
    services and pgserver's PostgreSQL are stopped on the way out instead of left running; and
    Ctrl-C works even when a script started us in the background, where SIGINT is ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, _interrupt), signal.signal(
        signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


class StackError(RuntimeError):
    """A service failed to start or to become healthy."""


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_ports(names: Iterable[str]) -> dict[str, int]:
    """One free port per name, all different: every socket stays bound until all are chosen."""
    with ExitStack() as sockets:
        ports = {}
        for name in names:
            s = sockets.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports[name] = s.getsockname()[1]
        return ports


def default_ports(gateway_port: int) -> dict[str, int]:
    return {"gateway": gateway_port, "embedder": gateway_port + 1,
            "search": gateway_port + 2, "catalog": gateway_port + 3, "worker": gateway_port + 4}


def admin_key_file(data_dir: Path) -> Path:
    """Where the catalog writes the first admin API key of a new data directory."""
    return data_dir / "admin-api-key"


def service_key_file(data_dir: Path) -> Path:
    """The service credential the processes of a data directory share (made at first start)."""
    return data_dir / "service-key"


def stack_environment(ports: dict[str, int], data_dir: Path, database_url: str) -> dict[str, str]:
    """Environment for every service; values already set by the user win. Unless the user gives
    a service credential, the data directory's own is used, made there first if it is new
    (refused, with ServiceKeyError, if the file there is a link or not 0600)."""
    env = dict(os.environ)
    if not (env.get(SERVICE_KEY_FILE_ENV) or env.get(SERVICE_KEY_ENV)):
        ensure_key_file(service_key_file(data_dir))
        env[SERVICE_KEY_FILE_ENV] = str(service_key_file(data_dir))
    defaults = {
        "CATALOG_DATABASE_URL": database_url,
        "CATALOG_DATA_DIR": str(data_dir / "catalog"),
        "CATALOG_BOOTSTRAP_KEY_FILE": str(admin_key_file(data_dir)),
        "SEARCH_DATA_DIR": str(data_dir / "search"),
        "GATEWAY_EMBEDDER_URL": f"http://127.0.0.1:{ports['embedder']}",
        "GATEWAY_SEARCH_URL": f"http://127.0.0.1:{ports['search']}",
        "GATEWAY_CATALOG_URL": f"http://127.0.0.1:{ports['catalog']}",
        "WORKER_EMBEDDER_URL": f"http://127.0.0.1:{ports['embedder']}",
        "WORKER_SEARCH_URL": f"http://127.0.0.1:{ports['search']}",
        "WORKER_CATALOG_URL": f"http://127.0.0.1:{ports['catalog']}",
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    return env


class Stack:
    """Starts the services, waits for each `/health`, stops them all (also as a context manager)."""

    def __init__(self, ports: dict[str, int], env: dict[str, str], log_dir: Path):
        self.ports = ports
        self.env = env
        self.log_dir = log_dir
        self.services: dict[str, ServiceProcess] = {}

    def start(self, timeout_s: float = 180.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for name, app in SERVICE_APPS.items():
                self.services[name] = self._spawn(name, app)
                if name == "catalog":
                    # The gateway's health check needs every service; wait for them first.
                    for started in list(self.services.values()):
                        self._wait_healthy(started, timeout_s)
            for name in list(SERVICE_APPS)[list(SERVICE_APPS).index("gateway"):]:
                self._wait_healthy(self.services[name], timeout_s)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, app: str) -> ServiceProcess:
        port = self.ports[name]
        log_path = self.log_dir / f"{name}.log"
        command = service_command(app, port)
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(command, env=self.env, stdout=log_file,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.info("started %s (pid %d) on port %d, log %s", name, process.pid, port, log_path)
        return ServiceProcess(name, port, process, log_path)

    def _wait_healthy(self, service: ServiceProcess, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise StackError(f"{service.name} exited with code {service.process.returncode}:\n"
                                 f"{service.log_tail()}")
            try:
                response = httpx.get(f"{service.url}/health", timeout=2.0)
                # The name tells our service from another process that holds the port.
                if response.status_code == 200 and response.json().get("service") == service.name:
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        raise StackError(f"{service.name} did not answer /health within {timeout_s:.0f} s:\n"
                         f"{service.log_tail()}")

    def service_headers(self) -> dict[str, str]:
        """The header of the service credential, for a direct call to a service."""
        return {SERVICE_KEY_HEADER: service_key_from_environment(self.env)}

    def kill(self, name: str) -> None:
        """SIGKILL one service (a crash, for tests of what survives one)."""
        process = self.services[name].process
        process.kill()
        process.wait()

    def restart(self, name: str, timeout_s: float = 180.0) -> None:
        self.services[name] = self._spawn(name, SERVICE_APPS[name])
        self._wait_healthy(self.services[name], timeout_s)

    def stop(self, timeout_s: float = 15.0) -> None:
        # Reverse order: the gateway first, so nothing calls a service that is already gone.
        for service in reversed(list(self.services.values())):
            if service.process.poll() is None:
                service.process.terminate()
        # One grace period for all of them, then SIGKILL: stopping never takes much longer
        # than timeout_s, however many services linger.
        deadline = time.monotonic() + timeout_s
        for service in self.services.values():
            try:
                service.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s of SIGTERM: killed", service.name,
                            timeout_s)
                service.process.kill()
                service.process.wait()
        self.services.clear()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
