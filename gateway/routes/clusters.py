"""Cluster proposals: density clusters of a project's unlabelled images, reviewed and named as a whole.

POST /clusters/refresh queues a `clusters` job (also queued on its own after suggestions refreshes
once the project's labels changed enough: nauplius/core/contracts/clusters.py `rerun_due`);
GET /clusters is the queue, best first; GET /clusters/{id}/images a cluster's still-unjudged
members, core outwards; POST /clusters/{id}/name validates the first `up_to` of them (or the
listed `image_ids`) as one taxon in one action.
"""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.auth import Annotator, Viewer
from gateway.deps import ActiveModelDep, DownstreamDep, ServicesDep
from gateway.routes.common import Offset, thumbnail_url, with_urls
from gateway.routes.labelling import _after_validation
from gateway.schemas import ImagePage
from nauplius.core.contracts.catalog import JobStatus
from nauplius.core.contracts.text import Line
from nauplius.core.jobs import wait_for_job

router = APIRouter(prefix="/api/v1", tags=["clusters"])

ProjectQuery = Annotated[int, Query(ge=1, description="the project's id")]
ClusterId = Annotated[int, Path(ge=1, description="the cluster's id")]


class ClusterView(BaseModel):
    id: int
    size: int  # members when clustered
    remaining: int  # members still unjudged
    estimated_purity: float
    thumbnail_urls: list[str]  # the first remaining members, core outwards


class ClusterQueueView(BaseModel):
    data: list[ClusterView]  # best first: remaining x estimated purity
    count: int
    clustered: int | None  # images the last run clustered (None: no run yet)
    finished_at: str | None


class ClusterRefresh(BaseModel):
    queued: bool  # false: one was already pending or running (`job` is that one)
    job: JobStatus | None


class NameIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    taxon: Line = Field(min_length=1, max_length=200)
    up_to: int | None = Field(default=None, ge=1, description="the first N remaining members")
    image_ids: list[int] | None = Field(default=None, min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _one_of(self) -> "NameIn":
        if (self.up_to is None) == (self.image_ids is None):
            raise ValueError("give exactly one of up_to (the first N remaining members) or image_ids")
        return self


class Named(BaseModel):
    cluster_id: int
    taxon: str
    image_ids: list[int]  # validated by this action
    remaining: int  # members still in the queue
    suggestions_job: int


@router.post("/clusters/refresh", response_model=ClusterRefresh,
             responses={202: {"model": ClusterRefresh,
                              "description": "still running after wait_s: follow the job"}})
async def refresh_clusters(
    downstream: DownstreamDep, p: Annotator, response: Response, project: ProjectQuery,
    wait_s: Annotated[float, Query(ge=0, le=300, description="how long to wait for the job")] = 60,
) -> dict[str, Any]:
    """Cluster the project's unjudged images again (a job the worker runs); answered once done,
    or with 202 and the job after `wait_s`."""
    answer = await downstream.catalog.queue_clusters(project, actor=p.annotator_id)
    if answer.job_id is None:
        return {"queued": False, "job": None}
    status = await wait_for_job(downstream.catalog, answer.job_id, wait_s)
    if status.task is not None and status.task.status == "failed":
        raise HTTPException(500, f"clusters job {status.id} failed: {status.task.error}")
    if not status.finished:
        response.status_code = 202
    return {"queued": answer.queued, "job": status}


@router.get("/clusters", response_model=ClusterQueueView)
async def cluster_queue(downstream: DownstreamDep, _: Viewer, project: ProjectQuery) -> ClusterQueueView:
    queue = await downstream.catalog.cluster_queue(project)
    return ClusterQueueView(
        data=[ClusterView(id=c.id, size=c.size, remaining=c.remaining,
                          estimated_purity=c.estimated_purity,
                          thumbnail_urls=[thumbnail_url(i) for i in c.preview_ids])
              for c in queue.data],
        count=queue.count, clustered=queue.clustered, finished_at=queue.finished_at)


@router.get("/clusters/{cluster_id}/images", response_model=ImagePage)
async def cluster_images(
    cluster_id: ClusterId, downstream: DownstreamDep, _: Viewer, offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ImagePage:
    """The cluster's still-unjudged members, core outwards."""
    page = await downstream.catalog.cluster_images(cluster_id, limit, offset)
    return ImagePage(data=[with_urls(i) for i in page.data], count=page.count)


@router.post("/clusters/{cluster_id}/name", response_model=Named)
async def name_cluster(
    cluster_id: ClusterId, body: NameIn, downstream: DownstreamDep, services: ServicesDep,
    active_model: ActiveModelDep, p: Annotator,
) -> Named:
    """Validate the first `up_to` remaining members (or the listed ones, which must be remaining
    members) as `taxon`, in one action; the rest stays in the queue."""
    remaining = await downstream.catalog.cluster_remaining_ids(cluster_id)
    if body.image_ids is not None:
        members = set(remaining)
        strangers = [i for i in body.image_ids if i not in members]
        if strangers:
            raise HTTPException(422, f"images {strangers[:10]} are not unjudged members of "
                                     f"cluster {cluster_id}")
        chosen = list(dict.fromkeys(body.image_ids))
    else:
        chosen = remaining[:body.up_to]
    if not chosen:
        raise HTTPException(409, f"cluster {cluster_id} has no unjudged members left")
    result = await downstream.catalog.assign_labels(
        chosen, body.taxon, "validated", create_taxon=p.may("admin"), actor=p.annotator_id)
    _, job = await _after_validation(services, active_model, result.image_ids, p.annotator_id)
    return Named(cluster_id=cluster_id, taxon=body.taxon, image_ids=result.image_ids,
                 remaining=len(remaining) - len(chosen), suggestions_job=job)
