"""Following a job from the outside: its progress counter, and waiting a bounded while for it."""

import asyncio
import time
from collections.abc import Awaitable, Callable

from nauplius.core.clients.catalog import CatalogClient
from nauplius.core.contracts.catalog import JobStatus

# A task's progress: (done, total), total None while unknown (an archive still being read).
Progress = Callable[[int, int | None], Awaitable[None]]

POLL_S = 0.1


async def wait_for_job(catalog: CatalogClient, job_id: int, wait_s: float) -> JobStatus:
    """The job's status once finished, or as it stands after `wait_s` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        status = await catalog.job(job_id)
        if status.finished or time.monotonic() >= deadline:
            return status
        await asyncio.sleep(POLL_S)
