"""Batch labelling, revert, suggestions (stored as `predicted` labels), counts and export rows."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.catalog import labelling, queries
from services.catalog.deps import ActorDep, ConnectionDep
from services.catalog.errors import InvalidMetadata
from nauplius.core.contracts.catalog import (
    AcceptSuggestions,
    BatchLabel,
    Calibration,
    LabelPublic,
    LabelState,
    PredictionBatch,
    RevertRequest,
)

router = APIRouter(prefix="/v1")


@router.post("/labels/batch")
async def assign_labels(
    conn: ConnectionDep,
    actor: ActorDep,
    body: BatchLabel,
    create_taxon: bool = False,
) -> dict:
    """One label (taxon + state) on every listed image, all or none. `create_taxon` adds an
    unknown taxon as a new root (the gateway allows it to admins' uploads only)."""
    writer = labelling.Writer(actor, body.annotator)
    ids = await labelling.assign(
        conn, body.image_ids, body.taxon, body.state, writer, create_taxon=create_taxon
    )
    return {"labelled": len(ids), "image_ids": ids}


@router.post("/labels/{label_id}/revert", response_model=LabelPublic)
async def revert_label(
    conn: ConnectionDep, actor: ActorDep, label_id: int, body: RevertRequest | None = None
) -> Any:
    writer = labelling.Writer(actor, body.annotator if body else None)
    return LabelPublic.model_validate(await labelling.revert(conn, label_id, writer))


@router.post("/suggestions")
async def store_predictions(conn: ConnectionDep, body: PredictionBatch) -> dict:
    written = await labelling.store_predictions(
        conn, [(p.image_id, p.taxon, p.confidence) for p in body.data]
    )
    return {"written": written}


@router.post("/suggestions/accept")
async def accept_suggestions(conn: ConnectionDep, actor: ActorDep, body: AcceptSuggestions) -> dict:
    ids = await labelling.accept_suggestions(
        conn,
        body.taxon,
        body.min_confidence,
        labelling.Writer(actor, body.annotator),
        project_id=body.project_id,
        instrument=body.instrument,
        image_ids=body.image_ids,
    )
    return {"validated": len(ids), "image_ids": ids}


@router.get("/suggestions/groups")
async def suggestion_groups(
    conn: ConnectionDep,
    min_confidence: Annotated[float, Query(ge=0, le=1)] = 0.9,
    project_id: int | None = None,
) -> dict:
    return {"data": await labelling.suggestion_groups(conn, min_confidence, project_id)}


@router.get("/suggestions/calibration/{model}")
async def get_calibration(conn: ConnectionDep, model: str) -> dict:
    record = await conn.fetchrow(queries.SELECT_CALIBRATION, model)
    if record is None:
        return {"model": model, "calibration": None}
    return {"model": model, "calibration": record["calibration"], "created_at": record["created_at"]}


@router.put("/suggestions/calibration")
async def put_calibration(conn: ConnectionDep, actor: ActorDep, body: Calibration) -> dict:
    await conn.execute(queries.INSERT_CALIBRATION, body.model, body.calibration, actor)
    return {"model": body.model, "calibration": body.calibration}


@router.get("/label-counts")
async def label_counts(conn: ConnectionDep, project_id: int | None = None) -> dict:
    return await labelling.state_counts(conn, project_id)


@router.get("/export-rows")
async def export_rows(
    conn: ConnectionDep,
    states: Annotated[list[LabelState] | None, Query()] = None,
    project_id: int | None = None,
) -> dict:
    """Every image with its current label, taxon rank and AphiaID and who labelled it."""
    if states == []:
        raise InvalidMetadata("give at least one state")
    rows = await labelling.export_rows(conn, states or ["validated"], project_id)
    return {"data": rows}
