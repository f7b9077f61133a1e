"""What operators see: Prometheus metrics per service, and JSON log lines that carry one request id
from the gateway through every service it calls.

Each app installs `ObservabilityMiddleware` (a pure ASGI middleware: it counts requests by route
template and status, times them, and binds the request id for the logs) and serves `/metrics`
with `metrics_response()`. The request id is the caller's `X-Request-ID` when it is a short plain
token, else a new one; it is answered in the same header, and the core's service clients send
it on every downstream call (`current_request_id`), so one search is one id in all five logs.
"""

import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import Any

import structlog
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
# "json" (the default) or "plain": uvicorn's own format, for a person reading a terminal (and
# the test suite, whose in-process apps must leave pytest's log capture alone).
LOG_FORMAT_ENV = "NAUPLIUS_LOG_FORMAT"
_REQUEST_ID_FORM = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_request_id: ContextVar[str | None] = ContextVar("nauplius_request_id", default=None)

REQUESTS = Counter("nauplius_requests", "HTTP requests answered, by route template and status",
                   ["service", "method", "route", "status"])
LATENCY = Histogram("nauplius_request_seconds", "Time to answer an HTTP request",
                    ["service", "method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
# Set when /metrics is scraped, by the service that knows them.
JOB_QUEUE = Gauge("nauplius_job_queue", "Ingest items and tasks waiting or running, by what and state",
                  ["what", "state"])
INDEX_POINTS = Gauge("nauplius_index_points", "Vectors in each collection of the index", ["collection"])
WORKER_DONE = Gauge("nauplius_worker_done", "What this worker process did since it started", ["what"])

# Paths that are polled all the time: counted, but not logged line by line.
_QUIET_PATHS = frozenset({"/health", "/metrics"})
log = structlog.stdlib.get_logger("nauplius.requests")


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(request_id: str | None = None) -> str:
    """Bind an id for what this task does next (a worker's round has no request of its own)."""
    chosen = request_id or uuid.uuid4().hex
    _request_id.set(chosen)
    structlog.contextvars.bind_contextvars(request_id=chosen)
    return chosen


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID_FORM.fullmatch(text) else None
    return None


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        structlog.contextvars.clear_contextvars()
        request_id = bind_request_id(_incoming_id(scope))
        header = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())
        status = 500  # what a request that raised past every handler answers
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            REQUESTS.labels(self.service, method, route, str(status)).inc()
            LATENCY.labels(self.service, method, route).observe(elapsed)
            if scope["path"] not in _QUIET_PATHS:
                log.info("request", method=method, route=route, status=status,
                         ms=round(elapsed * 1000, 1))


def metrics_response() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


Refresh = Callable[[FastAPI], Awaitable[None]]


def install_observability(app: FastAPI, service: str, refresh: Refresh | None = None,
                          dependencies: Sequence[Any] = ()) -> None:
    """Count and log every request of `app` (added last, so outermost: refusals by the other
    middlewares are counted too), and serve GET /metrics; `refresh` sets the service's gauges
    first. An internal service's /metrics sits behind the service credential like its other
    routes; a scraper sends it as any caller does. `dependencies` guard the route (the
    gateway's asks for an admin key)."""
    app.add_middleware(ObservabilityMiddleware, service=service)

    @app.get("/metrics", include_in_schema=False, dependencies=list(dependencies))
    async def metrics() -> Response:
        if refresh is not None:
            await refresh(app)
        return metrics_response()


def configure_logging_from_environment(service: str) -> None:
    """JSON logs unless NAUPLIUS_LOG_FORMAT=plain; called from each service's lifespan."""
    fmt = os.environ.get(LOG_FORMAT_ENV, "json")
    if fmt not in ("json", "plain"):
        raise ValueError(f"{LOG_FORMAT_ENV} must be json or plain, not {fmt!r}")
    if fmt == "json":
        configure_logging(service)


def configure_logging(service: str, level: int = logging.INFO) -> None:
    """Every log line of this process as one JSON object on stderr (ours, uvicorn's, libraries'),
    with the service, the logger, the level, a UTC timestamp and the bound request id."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        lambda _, __, event: {"service": service, **event},
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer()],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn gives its own loggers handlers of their own: send them through the root instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
