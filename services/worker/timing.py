"""Where the worker's time goes: seconds spent in calls to each service, summed per service.

Calls run concurrently (catalog lookups and stores), so a service's seconds can exceed the
wall time; `nauplius bench ingest` reports them beside the wall time.
"""

import inspect
import time
from collections import defaultdict
from typing import Any, TypeVar, cast

from nauplius.core.clients import ServiceClient

C = TypeVar("C", bound=ServiceClient)


class CallTimer:
    """Wraps a service client: every coroutine method it has is timed under `service`."""

    def __init__(self, client: ServiceClient, service: str, seconds: defaultdict[str, float]) -> None:
        self._client = client
        self._service = service
        self._seconds = seconds

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await attribute(*args, **kwargs)
            finally:
                self._seconds[self._service] += time.perf_counter() - started

        return timed


def timed(client: C, seconds: defaultdict[str, float]) -> C:
    """The client with its calls timed into `seconds[client.service]`. The proxy answers every
    attribute the client has, so to its callers it is the client: the one cast says so."""
    return cast(C, CallTimer(client, client.service, seconds))
