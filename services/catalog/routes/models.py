"""/v1/models: the model versions, the active one, a reembed job's queue and progress, a switch,
and retiring a version."""

from typing import Annotated

from fastapi import APIRouter, Path

from nauplius.core.contracts.models import (
    ModelVersion,
    ModelVersions,
    ReembedIn,
    ReembedProgress,
    ReembedQueued,
    VersionRetired,
)
from services.catalog import model_versions
from services.catalog.deps import ActorDep, CallerDep, ConnectionDep

router = APIRouter(prefix="/v1/models", tags=["models"])

Name = Annotated[str, Path(pattern=r"^[a-z0-9_-]+$", max_length=200,
                           description="the model version's name (its card's)")]


@router.get("")
async def versions(conn: ConnectionDep) -> ModelVersions:
    return await model_versions.list_versions(conn)


@router.post("/{name}/reembed", status_code=202)
async def reembed(conn: ConnectionDep, caller: CallerDep, actor: ActorDep, body: ReembedIn,
                  name: Name) -> ReembedQueued:
    """Queue a reembed job filling this version's collection with every stored image."""
    caller.require_admin("re-embedding the catalog in another model")
    return await model_versions.queue_reembed(conn, name, body, actor)


@router.post("/{name}/progress")
async def progress(conn: ConnectionDep, body: ReembedProgress,
                   name: Name) -> ModelVersion:
    """A reembed job's progress; `complete` ends the filling."""
    return await model_versions.report_progress(conn, name, body)


@router.post("/{name}/activate")
async def activate(conn: ConnectionDep, caller: CallerDep, name: Name) -> ModelVersion:
    """Switch search to this version: 409 unless its collection is complete."""
    caller.require_admin("switching the active model")
    return await model_versions.activate(conn, name)


@router.delete("/{name}")
async def retire(conn: ConnectionDep, caller: CallerDep, name: Name) -> VersionRetired:
    """Forget a version other than the active one (409 for that one, 404 unknown); a reembed job
    still filling it ends as failed. Its collection is the caller's to drop."""
    caller.require_admin("retiring a model version")
    return await model_versions.retire(conn, name)
