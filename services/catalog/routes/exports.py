"""What the review screens count and the exports write: label counts and export rows."""

from typing import Annotated

from fastapi import APIRouter, Query

from nauplius.core.contracts.catalog import ExportRows, LabelCounts, LabelState
from services.catalog import labelling
from services.catalog.deps import ConnectionDep
from services.catalog.errors import InvalidMetadata

router = APIRouter(prefix="/v1")


@router.get("/label-counts")
async def label_counts(conn: ConnectionDep, project_id: int | None = None) -> LabelCounts:
    return LabelCounts(await labelling.state_counts(conn, project_id))


@router.get("/export-rows")
async def export_rows(
    conn: ConnectionDep,
    states: Annotated[list[LabelState] | None, Query()] = None,
    project_id: int | None = None,
) -> ExportRows:
    """Every image with its current label, taxon rank and AphiaID and who labelled it."""
    if states == []:
        raise InvalidMetadata("give at least one state")
    return ExportRows(data=await labelling.export_rows(conn, states or ["validated"], project_id))
