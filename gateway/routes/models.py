"""Model versions (zero-downtime model switch): the versions the embedder serves with their state,
a re-embed of every stored image into another version's collection (a job, while search keeps
answering from the active one), and the switch to a complete version, which is instant both ways.

GET /models lists them; POST /models/{name}/reembed queues the `reembed` job (202);
POST /models/{name}/activate switches search to the version (409 until its collection is complete);
DELETE /models/{name} retires a version other than the active one: the catalog forgets it (a
reembed job still filling it fails) and its collection is dropped, so new images and label changes
stop going to it.
"""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel

from gateway.auth import Admin, Viewer
from gateway.deps import ActiveModelDep, DownstreamDep
from nauplius.core.contracts.catalog import JobStatus
from nauplius.core.contracts.models import ModelVersion, ReembedIn, VersionIn, VersionState
from nauplius.core.errors import DownstreamRejected

router = APIRouter(prefix="/api/v1", tags=["models"])

Name = Annotated[str, Path(pattern=r"^[a-z0-9_-]+$", max_length=200,
                           description="the model version's name (its card's)")]


class ModelView(BaseModel):
    name: str
    output_dim: int | None
    served: bool  # the embedder serves it (EMBEDDER_MODEL_PATHS)
    default: bool  # the embedder's default model
    active: bool  # search answers from it
    # filling: being re-embedded; complete: every stored image in its collection; null: neither
    state: Literal["filling", "complete"] | None
    done: int  # images re-embedded so far
    total: int | None
    job_id: int | None  # its last reembed job
    completed_at: datetime | None
    activated_at: datetime | None


class ModelsView(BaseModel):
    data: list[ModelView]  # the embedder's models first (its default first), then others recorded
    active: str


class ReembedQueuedView(BaseModel):
    queued: bool  # false: this version's reembed job was already pending or running
    job: JobStatus


@router.get("/models", response_model=ModelsView)
async def models(downstream: DownstreamDep, active_model: ActiveModelDep, _: Viewer) -> ModelsView:
    served = await downstream.embedder.model_cards()
    recorded = {v.name: v for v in (await downstream.catalog.model_versions()).data}
    active = (await active_model.refresh()).active.name
    views = []
    for card in served.data:
        version = recorded.pop(card.name, None)
        views.append(_view(card.name, card.output_dim, version, served=True,
                           default=card.name == served.default, active=card.name == active))
    views += [_view(v.name, v.output_dim, v, served=False, default=False, active=v.active)
              for v in recorded.values()]
    return ModelsView(data=views, active=active)


@router.post("/models/{name}/reembed", status_code=202, response_model=ReembedQueuedView)
async def reembed(name: Name, downstream: DownstreamDep, active_model: ActiveModelDep,
                  p: Admin) -> ReembedQueuedView:
    """Embed every stored image by model `name` into its own collection (a job with progress);
    new images go to it as well meanwhile. Search answers from the active model throughout."""
    card = await downstream.embedder.model_card(name)  # 404 naming the served ones
    current = await active_model.get()
    if current.name == name:
        raise HTTPException(409, f"model {name} is the active version: nothing to re-embed")
    await downstream.search.ensure_collection(name, card.output_dim)
    queued = await downstream.catalog.queue_reembed(name, ReembedIn(
        output_dim=card.output_dim,
        current=VersionIn(name=current.name, output_dim=current.output_dim)), actor=p.annotator_id)
    await active_model.refresh()  # this gateway's uploads go to the new version from now on
    return ReembedQueuedView(queued=queued.queued, job=await downstream.catalog.job(queued.job_id))


@router.post("/models/{name}/activate", response_model=ModelView)
async def activate(name: Name, downstream: DownstreamDep, active_model: ActiveModelDep,
                   _: Admin) -> ModelView:
    """Search answers from `name` from now on (every process within about a second); 409 unless
    its collection is complete. The version switched from stays complete: switching back is
    as instant."""
    cards = await downstream.embedder.model_cards()
    if name not in {card.name for card in cards.data}:
        raise HTTPException(409, f"model {name} is not served by the embedder "
                                 f"(EMBEDDER_MODEL_PATHS): its queries could not be embedded")
    version = await downstream.catalog.activate_model(name)
    await active_model.refresh()
    return _view(name, version.output_dim, version, served=True, default=name == cards.default,
                 active=True)


class ModelRetiredView(BaseModel):
    name: str
    # What it was when retired; null: the catalog recorded no version of it, only a collection
    # was left (a retire whose collection drop failed, or a model served before versions)
    state: VersionState | None
    points_dropped: int  # the points its collection held
    collection_dropped: bool  # false: the search service held no collection of it
    job_ended: int | None  # its reembed job, ended as failed (the version was still filling)


@router.delete("/models/{name}", response_model=ModelRetiredView)
async def retire(name: Name, downstream: DownstreamDep, active_model: ActiveModelDep,
                 _: Admin) -> ModelRetiredView:
    """Retire a version other than the active one (409 for that one): the catalog forgets it, a
    reembed job still filling it ends as failed, and its collection is dropped. Re-embedding it
    later starts from nothing. A collection left without a version (a retire cut short after
    the catalog forgot it) is dropped by asking again; 404 when there is neither."""
    current = (await active_model.refresh()).active
    if current.name == name:
        raise HTTPException(409, f"model {name} is the active version: switch to another "
                                 f"version first")
    try:
        retired = await downstream.catalog.retire_model(name)
    except DownstreamRejected as unknown:
        if unknown.status_code != 404:
            raise
        # No version: a collection of that name is still dropped (a retire cut short after the
        # catalog forgot it); with none either, the catalog's 404.
        retired, missing = None, unknown
    else:
        await active_model.refresh()  # this gateway's uploads stop going to it now
    try:
        points, dropped = await downstream.search.drop_collection(name), True
    except DownstreamRejected as exc:
        if exc.status_code != 404:
            raise
        if retired is None:
            raise missing from None
        points, dropped = 0, False
    return ModelRetiredView(name=name, state=retired.version.state if retired else None,
                            points_dropped=points, collection_dropped=dropped,
                            job_ended=retired.job_ended if retired else None)


def _view(name: str, output_dim: int | None, version: ModelVersion | None, *, served: bool,
          default: bool, active: bool) -> ModelView:
    state = version.state if version is not None else ("complete" if active else None)
    return ModelView(
        name=name, output_dim=output_dim, served=served, default=default, active=active,
        state=state, done=version.done if version else 0, total=version.total if version else None,
        job_id=version.job_id if version else None,
        completed_at=version.completed_at if version else None,
        activated_at=version.activated_at if version else None)
