"""Job tasks: the work of a job itself (unpack an archive, refresh suggestions, reconcile),
claimed from the catalog under a lease like items, with progress reported as it goes."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nauplius.core.active_model import ActiveModel
from nauplius.core.adapted_search import heads_in_use
from nauplius.core.clients import Downstream
from nauplius.core.contracts.catalog import ClaimedTask, TaskKind
from nauplius.core.errors import DownstreamError, DownstreamRejected
from nauplius.core.jobs import Progress
from nauplius.core.suggestion_refresh import Refresher
from nauplius.formats.budget import UploadLimits
from services.worker.adaptation import queue_due_refits, refit_head
from services.worker.archives import unpack_archive_job
from services.worker.clusters import cluster_project, queue_due_cluster_runs
from services.worker.config import WorkerSettings
from services.worker.reconcile import reconcile
from services.worker.reembed import Reembed, ReembedRefused
from services.worker.training import train_project_job
from services.worker.worker import after_outage

log = logging.getLogger("nauplius.worker")


Handler = Callable[[ClaimedTask, Progress], Awaitable[dict[str, Any]]]

# Kinds that may run for hours (a re-embed of the whole catalog, a fine-tune): the worker's
# second task loop never claims them, so a refresh or a refit never waits behind one.
LONG_TASKS: frozenset[TaskKind] = frozenset({"reembed", "train"})


class TaskRunner:
    def __init__(self, settings: WorkerSettings, downstream: Downstream,
                 active_model: ActiveModel) -> None:
        self.settings = settings
        self.downstream = downstream
        self.active_model = active_model
        self.handlers: dict[TaskKind, Handler] = {
            "archive": self._archive,
            "suggestions": self._suggestions,
            "reconcile": self._reconcile,
            "adaptation": self._adaptation,
            "clusters": self._clusters,
            "train": self._train,
            "reembed": self._reembed,
        }
        self.finished = 0

    @property
    def short_kinds(self) -> list[TaskKind]:
        return [kind for kind in self.handlers if kind not in LONG_TASKS]

    async def run_once(self, kinds: list[TaskKind] | None = None) -> bool:
        """One claimed task (of `kinds`, default every kind), run to its end; False when none
        was due."""
        catalog = self.downstream.catalog
        task = await catalog.claim_task(kinds or list(self.handlers), self.settings.lease_s)
        if task is None:
            return False
        job_id = task.id

        async def progress(done: int, total: int | None) -> None:
            await catalog.task_progress(job_id, done, total, self.settings.lease_s)

        # The lease is extended by every progress report, and by this heartbeat between them.
        heartbeat = asyncio.create_task(self._heartbeat(job_id))
        try:
            result = await self.handlers[task.kind](task, progress)
        except DownstreamRejected as exc:  # a service refused the work: trying again cannot help
            log.warning("job %d (%s) refused: %s", job_id, task.kind, exc.detail)
            await self._finish(job_id, "failed", error=str(exc.detail))
        except ReembedRefused as exc:
            log.warning("job %d (%s) refused: %s", job_id, task.kind, exc)
            await self._finish(job_id, "failed", error=str(exc))
        except DownstreamError as exc:
            settled = after_outage(task.attempts, str(exc.detail), self.settings)
            log.warning("job %d (%s): %s", job_id, task.kind, settled.error)
            await self._finish(job_id, settled.outcome, error=settled.error,
                               retry_after_s=settled.retry_after_s)
        except Exception as exc:  # a bug or bad input: the job fails with the reason, not the loop
            log.exception("job %d (%s) failed", job_id, task.kind)
            await self._finish(job_id, "failed", error=f"{type(exc).__name__}: {exc}")
        else:
            if await self._finish(job_id, "done", result=result):
                self.finished += 1
        finally:
            heartbeat.cancel()
        return True

    async def _finish(self, job_id: int, outcome: str, *, error: str | None = None,
                      result: dict[str, Any] | None = None, retry_after_s: float = 0.0) -> bool:
        """Settle the task; False when the catalog had ended it already (a retired model
        version's reembed job is failed there, with the reason): this outcome is dropped."""
        try:
            await self.downstream.catalog.finish_task(job_id, outcome, error=error, result=result,
                                                      retry_after_s=retry_after_s)
        except DownstreamRejected as exc:
            if exc.status_code != 409:
                raise
            log.warning("job %d was ended meanwhile; its outcome %s is dropped: %s", job_id,
                        outcome, exc.detail)
            return False
        return True

    async def _heartbeat(self, job_id: int) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_s / 3)
            try:
                await self.downstream.catalog.task_progress(job_id, None, None,
                                                            self.settings.lease_s)
            except DownstreamError as exc:
                log.warning("job %d: lease not extended: %s", job_id, exc.detail)

    async def _archive(self, task: ClaimedTask, progress: Progress) -> dict[str, Any]:
        return await unpack_archive_job(self.downstream.catalog, task, progress,
                                        UploadLimits(max_item_bytes=self.settings.max_item_bytes))

    async def _suggestions(self, task: ClaimedTask, progress: Progress) -> dict[str, Any]:
        model = await self.active_model.get()
        params = task.params
        refresher = Refresher(self.downstream, model.name, params.get("project"), progress,
                              heads=await heads_in_use(self.downstream.catalog, model.name,
                                                       params.get("project")))
        report = await refresher.run(incremental=params.get("mode") == "incremental")
        adaptation_jobs = await queue_due_refits(self.downstream, model.name, params.get("project"))
        cluster_jobs = await queue_due_cluster_runs(self.downstream, params.get("project"))
        return {**report.public(), "adaptation_jobs": adaptation_jobs, "cluster_jobs": cluster_jobs}

    async def _reconcile(self, task: ClaimedTask, progress: Progress) -> dict[str, Any]:
        versions = await self.active_model.refresh()
        return await reconcile(self.downstream, versions, bool(task.params.get("repair")),
                               progress)

    async def _adaptation(self, task: ClaimedTask, progress: Progress) -> dict[str, Any]:
        model = await self.active_model.get()
        return await refit_head(self.downstream, model.name, task, progress)

    async def _clusters(self, task: ClaimedTask, progress: Progress) -> dict[str, Any]:
        model = await self.active_model.get()
        return await cluster_project(self.downstream, model.name, task, progress)

    async def _reembed(self, task: ClaimedTask, progress: Progress) -> dict[str, Any]:
        return await Reembed(self.downstream, self.active_model, task, progress,
                             self.settings.batch_size, self.settings.catalog_concurrency).run()

    async def _train(self, task: ClaimedTask, progress: Progress) -> dict[str, Any]:
        return await train_project_job(self.downstream, self.settings.models_dir, task, progress)
