"""Per-project adaptation: heads fitted on a project's validated labels, their refits and versions.

GET shows the project's active head and every past version with their cross-validated top-1
(plain -> adapted); POST .../refit queues an `adaptation` job (annotators of the project, and
admins). Refits are also queued on their own after suggestions refreshes, once the validated
labels grew past `next_refit_at` (nauplius/core/contracts/adaptation.py)."""

from typing import Annotated

from fastapi import APIRouter, Path

from gateway.auth import Annotator, Viewer
from gateway.deps import ActiveModelDep, DownstreamDep
from nauplius.core.contracts.adaptation import AdaptationState, RefitQueued
from nauplius.core.contracts.catalog import JobStatus

router = APIRouter(prefix="/api/v1", tags=["adaptation"])

ProjectId = Annotated[int, Path(ge=1, description="the project's id")]


class AdaptationView(AdaptationState):
    model: str  # the embedding model the heads are fitted on (the active one)
    can_refit: bool  # whether the caller may queue a refit here


class RefitAnswer(RefitQueued):
    job: JobStatus | None  # the queued job, or the one already pending or running


@router.get("/projects/{project_id}/adaptation", response_model=AdaptationView)
async def adaptation(project_id: ProjectId, downstream: DownstreamDep, active_model: ActiveModelDep,
                     p: Viewer) -> AdaptationView:
    model = await active_model.get()
    state = await downstream.catalog.adaptation_state(project_id, model.name)
    writable = (await downstream.catalog.scope()).writable
    can_refit = p.role in ("annotator", "admin") and (writable is None or project_id in writable)
    return AdaptationView(**state.model_dump(), model=model.name, can_refit=can_refit)


@router.post("/projects/{project_id}/adaptation/refit", response_model=RefitAnswer, status_code=202)
async def refit(project_id: ProjectId, downstream: DownstreamDep, active_model: ActiveModelDep,
                p: Annotator) -> RefitAnswer:
    """Queue a refit now (202). When one is already pending or running, `queued` is false and
    `job` is that one. Follow it at /api/v1/jobs/{id}."""
    model = await active_model.get()
    answer = await downstream.catalog.queue_adaptation(project_id, model.name, actor=p.annotator_id)
    job = await downstream.catalog.job(answer.job_id) if answer.job_id is not None else None
    return RefitAnswer(**answer.model_dump(), job=job)
