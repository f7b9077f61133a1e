"""Near-duplicates: images flagged at ingest as within a set distance of one already stored,
and their merge."""

from typing import Annotated

from fastapi import APIRouter, Query

from nauplius.core.contracts.duplicates import (
    DuplicatePairs,
    DuplicateSettled,
    DuplicateStatus,
    NearDuplicatesFlagged,
    NearDuplicatesIn,
)
from services.catalog import duplicates
from services.catalog.deps import ActorDep, ConnectionDep, ScopeDep

router = APIRouter(prefix="/v1", tags=["duplicates"])


@router.post("/duplicates")
async def flag_duplicates(conn: ConnectionDep, body: NearDuplicatesIn) -> NearDuplicatesFlagged:
    """The worker's flags of one ingest batch (flags of deleted images are dropped)."""
    return NearDuplicatesFlagged(flagged=await duplicates.flag(conn, body.data) if body.data else 0)


@router.get("/duplicates")
async def list_duplicates(
    conn: ConnectionDep,
    scope: ScopeDep,
    status: DuplicateStatus = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> DuplicatePairs:
    """Pairs of this status in the projects the caller may read, most alike first."""
    data, count = await duplicates.pairs(conn, status, scope.projects("viewer"), limit, offset)
    return DuplicatePairs(data=data, count=count)


@router.post("/duplicates/{image_id}/merge")
async def merge_duplicate(conn: ConnectionDep, scope: ScopeDep, actor: ActorDep,
                          image_id: int) -> DuplicateSettled:
    return await duplicates.settle(conn, scope, image_id, "merged", actor)


@router.post("/duplicates/{image_id}/dismiss")
async def dismiss_duplicate(conn: ConnectionDep, scope: ScopeDep, actor: ActorDep,
                            image_id: int) -> DuplicateSettled:
    return await duplicates.settle(conn, scope, image_id, "dismissed", actor)
