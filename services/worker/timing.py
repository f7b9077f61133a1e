"""Where the worker's time goes: seconds spent in calls to each service, summed per service.

Calls run concurrently (catalog lookups and stores), so a service's seconds can exceed the
wall time; `nauplius bench ingest` reports them beside the wall time.
"""

import time
from collections import defaultdict
from typing import Any


class CallTimer:
    """Wraps a service client: every coroutine method it has is timed under `service`."""

    def __init__(self, client: Any, service: str, seconds: defaultdict[str, float]) -> None:
        self._client = client
        self._service = service
        self._seconds = seconds

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await attribute(*args, **kwargs)
            finally:
                self._seconds[self._service] += time.perf_counter() - started

        return timed

