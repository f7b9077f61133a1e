"""What the review screens count and the exports write: label counts and export rows."""

from typing import Annotated

from fastapi import APIRouter, Query

from nauplius.core.contracts.catalog import ExportRows, LabelCounts, LabelState
from services.catalog import labelling
from services.catalog.deps import ConnectionDep, ScopeDep
from services.catalog.errors import InvalidMetadata

router = APIRouter(prefix="/v1")


@router.get("/label-counts")
async def label_counts(
    conn: ConnectionDep, scope: ScopeDep, project_id: int | None = None
) -> LabelCounts:
    """Counts over the projects the caller may read."""
    if project_id is not None:
        scope.require(project_id, "viewer", "counting the labels")
    return LabelCounts(await labelling.state_counts(conn, project_id, scope.projects("viewer")))


@router.get("/export-rows")
async def export_rows(
    conn: ConnectionDep,
    scope: ScopeDep,
    states: Annotated[list[LabelState] | None, Query()] = None,
    project_id: int | None = None,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> ExportRows:
    """Every image the caller may read with its current label, taxon rank and AphiaID and who
    labelled it, in id order after `after_id`; with a `limit`, a page of them and the
    `next_after_id` to follow (what a streaming export reads: memory bounded by the page)."""
    if states == []:
        raise InvalidMetadata("give at least one state")
    if project_id is not None:
        scope.require(project_id, "viewer", "exporting")
    rows = await labelling.export_rows(conn, states or ["validated"], project_id,
                                       scope.projects("viewer"), after_id, limit)
    more = limit is not None and len(rows) == limit
    return ExportRows(data=rows, next_after_id=rows[-1].id if more else None)
