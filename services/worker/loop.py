"""The worker's loops: each takes the first of its steps that finds work, again and again, and
sleeps when none does."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from nauplius.core.clients import Downstream
from nauplius.core.errors import DownstreamError
from nauplius.core.observability import bind_request_id
from services.worker.config import WorkerSettings
from services.worker.outbox import OutboxDrain
from services.worker.tasks import TaskRunner
from services.worker.worker import IngestWorker

log = logging.getLogger("nauplius.worker")

Step = Callable[[], Awaitable[bool]]


async def run_forever(name: str, steps: Sequence[Step], idle_poll_s: float) -> None:
    """Each step claims and does one piece of work and says whether there was any; earlier steps
    go first. Nothing a step raises stops the loop: leases give the work back."""
    while True:
        worked = False
        try:
            for step in steps:
                bind_request_id()  # the calls of one round share an id in every service's log
                if await step():
                    worked = True
                    break
        except DownstreamError as exc:  # the catalog itself is away: leases keep the work
            log.warning("%s: cannot claim or settle work: %s", name, exc.detail)
        except Exception:  # a bug must not stop the loop; the lease retakes the work
            log.exception("%s: round failed", name)
        if not worked:
            await asyncio.sleep(idle_poll_s)


@dataclass
class Worker:
    """Everything one worker process runs, over one set of service clients."""

    ingest: IngestWorker
    outbox: OutboxDrain
    tasks: TaskRunner

    @classmethod
    def over(cls, settings: WorkerSettings, downstream: Downstream) -> "Worker":
        ingest = IngestWorker(settings, downstream)
        # The others share the ingest worker's timed clients and active model.
        return cls(ingest, OutboxDrain(settings, ingest.downstream, ingest.active_model),
                   TaskRunner(settings, ingest.downstream, ingest.active_model))

    def loops(self) -> list[Coroutine[Any, Any, None]]:
        """WORKER_LOOPS loops for ingest items (then index payloads, then the re-index pass),
        and two for job tasks, which drain the outbox first so a refresh sees the labels just
        written: one takes every kind, the other only those that end in minutes (not LONG_TASKS),
        so a re-embed or a fine-tune holds up no refresh, refit or unpacking."""
        settings = self.ingest.settings
        ingest_steps = [self.ingest.run_once, self.outbox.run_once, self.ingest.reindex_once]
        short_kinds = self.tasks.short_kinds

        async def short_task() -> bool:
            return await self.tasks.run_once(short_kinds)

        return [*(run_forever("ingest", ingest_steps, settings.idle_poll_s)
                  for _ in range(settings.loops)),
                run_forever("tasks", [self.outbox.run_once, self.tasks.run_once],
                            settings.idle_poll_s),
                run_forever("short tasks", [self.outbox.run_once, short_task],
                            settings.idle_poll_s)]
