"""Per-project adaptation: heads fitted on a project's validated labels, their refits and versions."""

from typing import Annotated

from fastapi import APIRouter, Query

from nauplius.core.contracts.adaptation import ActiveHead, AdaptationState, HeadIn, HeadPublic, RefitQueued
from services.catalog import adaptation_heads
from services.catalog.deps import ActorDep, CallerDep, ConnectionDep, ScopeDep

router = APIRouter(prefix="/v1", tags=["adaptation"])

Model = Annotated[str, Query(min_length=1, description="the embedding model's name")]


@router.get("/projects/{project_id}/adaptation")
async def adaptation_state(conn: ConnectionDep, scope: ScopeDep, project_id: int,
                           model: Model) -> AdaptationState:
    scope.require(project_id, "viewer", "reading the project's adaptation")
    return await adaptation_heads.state(conn, project_id, model)


@router.post("/projects/{project_id}/adaptation/refit", status_code=202)
async def refit(conn: ConnectionDep, scope: ScopeDep, actor: ActorDep, project_id: int,
                model: Model, when_due: bool = False) -> RefitQueued:
    """Queue an adaptation job; `when_due`: only if the refit rule says so (the worker asks this
    after each suggestions refresh of the project)."""
    scope.require(project_id, "annotator", "refitting the project's adaptation")
    return await adaptation_heads.queue_refit(conn, project_id, model, when_due=when_due,
                                              source="adaptation", created_by=actor)


@router.get("/projects/{project_id}/adaptation/active")
async def active_head(conn: ConnectionDep, scope: ScopeDep, project_id: int,
                      model: Model) -> ActiveHead:
    scope.require(project_id, "viewer", "reading the project's adaptation")
    return await adaptation_heads.active_head(conn, project_id, model)


@router.post("/projects/{project_id}/adaptation/heads", status_code=201)
async def store_head(conn: ConnectionDep, caller: CallerDep, project_id: int,
                     body: HeadIn) -> HeadPublic:
    caller.require_admin("storing an adaptation head")
    return await adaptation_heads.store(conn, project_id, body)
