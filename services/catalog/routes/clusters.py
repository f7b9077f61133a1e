"""Cluster proposals: density clusters of a project's unlabelled images, reviewed and named as a whole."""

from typing import Annotated

from fastapi import APIRouter, Query

from nauplius.core.contracts.catalog import ImageList
from nauplius.core.contracts.clusters import (
    ClusterIds,
    ClusterQueue,
    ClusterRunIn,
    ClustersQueued,
    ClustersStored,
)
from services.catalog import clusters
from services.catalog.deps import ActorDep, CallerDep, ConnectionDep, ScopeDep

router = APIRouter(prefix="/v1", tags=["clusters"])


@router.get("/projects/{project_id}/clusters")
async def cluster_queue(conn: ConnectionDep, scope: ScopeDep, project_id: int,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> ClusterQueue:
    scope.require(project_id, "viewer", "reading the project's clusters")
    return await clusters.queue(conn, project_id, limit)


@router.put("/projects/{project_id}/clusters")
async def store_run(conn: ConnectionDep, caller: CallerDep, project_id: int,
                    body: ClusterRunIn) -> ClustersStored:
    caller.require_admin("storing cluster proposals")
    return ClustersStored(stored=await clusters.store_run(conn, project_id, body))


@router.post("/projects/{project_id}/clusters/refresh", status_code=202)
async def refresh(conn: ConnectionDep, scope: ScopeDep, actor: ActorDep, project_id: int,
                  when_due: bool = False) -> ClustersQueued:
    scope.require(project_id, "annotator", "refreshing the project's clusters")
    return await clusters.queue_run(conn, project_id, when_due=when_due, source="clusters",
                                    created_by=actor)


@router.get("/clusters/{cluster_id}/images")
async def cluster_images(conn: ConnectionDep, scope: ScopeDep, cluster_id: int,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                         offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> ImageList:
    """The cluster's still-unjudged members, core outwards."""
    scope.require(await clusters.cluster_project(conn, cluster_id), "viewer", "reading the cluster")
    images, count = await clusters.remaining(conn, cluster_id, limit, offset)
    return ImageList(data=images, count=count)


@router.get("/clusters/{cluster_id}/remaining-ids")
async def remaining_ids(conn: ConnectionDep, scope: ScopeDep, cluster_id: int,
                        limit: Annotated[int, Query(ge=1, le=100_000)] = 100_000) -> ClusterIds:
    """The ids of the cluster's still-unjudged members, core outwards (`ids`)."""
    scope.require(await clusters.cluster_project(conn, cluster_id), "viewer", "reading the cluster")
    images, _ = await clusters.remaining(conn, cluster_id, limit, 0)
    return ClusterIds(ids=[i.id for i in images])
