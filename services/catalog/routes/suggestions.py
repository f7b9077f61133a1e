"""/v1/suggestions: predictions stored as `predicted` labels, accepted in groups, and the
calibration of each model's confidences."""

from typing import Annotated

from fastapi import APIRouter, Query

from nauplius.core.contracts.catalog import (
    AcceptSuggestions,
    Calibration,
    PredictionBatch,
    PredictionsWritten,
    StoredCalibration,
    SuggestionGroups,
    SuggestionsAccepted,
)
from services.catalog import labelling
from services.catalog.deps import ActorDep, ConnectionDep, ScopeDep

router = APIRouter(prefix="/v1/suggestions")


@router.post("")
async def store_predictions(conn: ConnectionDep, body: PredictionBatch) -> PredictionsWritten:
    written = await labelling.store_predictions(
        conn, [(p.image_id, p.taxon, p.confidence, p.share) for p in body.data]
    )
    return PredictionsWritten(written=written)


@router.post("/accept")
async def accept_suggestions(
    conn: ConnectionDep, actor: ActorDep, scope: ScopeDep, body: AcceptSuggestions
) -> SuggestionsAccepted:
    """Validates the matching suggestions in the projects the caller annotates."""
    if body.project_id is not None:
        scope.require(body.project_id, "annotator", "accepting suggestions")
    ids = await labelling.accept_suggestions(
        conn,
        body.taxon,
        body.min_confidence,
        labelling.Writer(actor, body.annotator),
        project_id=body.project_id,
        instrument=body.instrument,
        image_ids=body.image_ids,
        projects=scope.projects("annotator"),
    )
    return SuggestionsAccepted(validated=len(ids), image_ids=ids)


@router.get("/groups")
async def suggestion_groups(
    conn: ConnectionDep,
    scope: ScopeDep,
    min_confidence: Annotated[float, Query(ge=0, le=1)] = 0.9,
    project_id: int | None = None,
) -> SuggestionGroups:
    if project_id is not None:
        scope.require(project_id, "viewer", "reading the suggestions")
    groups = await labelling.suggestion_groups(conn, min_confidence, project_id,
                                               scope.projects("viewer"))
    return SuggestionGroups(data=groups)


# Unset: a model without calibration answers no `created_at`.
@router.get("/calibration/{model}", response_model_exclude_unset=True)
async def get_calibration(conn: ConnectionDep, model: str) -> StoredCalibration:
    return await labelling.latest_calibration(conn, model)


@router.put("/calibration")
async def put_calibration(conn: ConnectionDep, actor: ActorDep, body: Calibration) -> Calibration:
    await labelling.store_calibration(conn, body.model, body.calibration, actor)
    return body
