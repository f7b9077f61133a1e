"""Downstream failures as named exceptions: what a call to an internal service can end in.

The gateway maps them to HTTP answers (`gateway.errors`); the worker retries or fails items by them.
"""

from typing import Any


class DownstreamError(Exception):
    """A call to one of the internal services did not give a usable answer."""

    status_code = 502

    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.service = service

    @property
    def detail(self) -> Any:
        return f"{self.service} service failed"


class DownstreamTimeout(DownstreamError):
    status_code = 504

    @property
    def detail(self) -> str:
        return f"{self.service} service timed out"


class DownstreamUnavailable(DownstreamError):
    @property
    def detail(self) -> str:
        return f"{self.service} service unreachable"


class DownstreamFailed(DownstreamError):
    """The service answered 5xx (or something that is not the JSON its contract promises)."""

    def __init__(self, service: str, status: int) -> None:
        super().__init__(service)
        self.status = status

    @property
    def detail(self) -> str:
        return f"{self.service} service failed (HTTP {self.status})"


class DownstreamRejected(DownstreamError):
    """The service answered 4xx: the caller's request was refused; passed through as is."""

    def __init__(self, service: str, status: int, detail: Any) -> None:
        super().__init__(service)
        self.status_code = status
        self._detail = detail

    @property
    def detail(self) -> Any:
        return self._detail
