"""Label writes beyond one image at a time: batch assign, revert, accept suggestions, store
the suggestions' predictions, and the summaries the review screens and exports read."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from nauplius.core.contracts.catalog import (
    LABEL_STATES,
    ExportRow,
    LabelPublic,
    LabelState,
    StoredCalibration,
    SuggestionGroup,
)
from services.catalog import queries, repository, taxonomy
from services.catalog.domain import NewLabel
from services.catalog.errors import ImageNotFound, InvalidMetadata, NotFound

SUGGESTER = "suggestions"
# A prediction is rewritten only when its taxon changes or its confidence moves this much, so
# refreshing the suggestions does not flood the history with near-identical rows.
CONFIDENCE_STEP = 0.01


@dataclass(frozen=True, slots=True)
class Writer:
    """Who writes: an annotator known by id (an API key), else a free-text name."""

    annotator_id: int | None = None
    name: str | None = None


async def _check_images(conn: asyncpg.Connection, image_ids: Sequence[int]) -> None:
    found = {r["id"] for r in await conn.fetch(queries.EXISTING_IMAGE_IDS, list(image_ids))}
    missing = sorted(set(image_ids) - found)
    if missing:
        raise ImageNotFound(f"unknown image ids: {missing[:20]}")


async def assign(
    conn: asyncpg.Connection,
    image_ids: Sequence[int],
    taxon: str | None,
    state: LabelState,
    writer: Writer,
    *,
    confidence: float | None = None,
    create_taxon: bool = False,
) -> list[int]:
    """One label for each image, in one transaction; every id must exist, the taxon too."""
    if len(set(image_ids)) != len(image_ids):
        raise InvalidMetadata("an image id appears twice in the list")
    async with conn.transaction():
        await _check_images(conn, image_ids)
        taxon_id = None
        if taxon is not None:
            taxon_id = await taxonomy.resolve_taxon(
                conn, taxon, create=create_taxon, actor=writer.annotator_id
            )
        records = await conn.fetch(
            queries.INSERT_BATCH_LABELS, list(image_ids), taxon, writer.name, state, confidence,
            taxon_id, writer.annotator_id,
        )
    return [r["image_id"] for r in records]


async def revert(conn: asyncpg.Connection, label_id: int, writer: Writer) -> LabelPublic:
    """Undo one change: a new label that puts back what the image had before `label_id`."""
    async with conn.transaction():
        undone = await conn.fetchrow(queries.SELECT_LABEL_BY_ID, label_id)
        if undone is None:
            raise NotFound(f"label {label_id} not found")
        before = await conn.fetchrow(queries.SELECT_PREVIOUS_LABEL, undone["image_id"], label_id)
        restored = (
            NewLabel(None, "unlabelled")
            if before is None
            else NewLabel(before["taxon"], before["state"], confidence=before["confidence"],
                          taxon_id=before["taxon_id"])
        )
        return await repository.append_label(
            conn,
            undone["image_id"],
            NewLabel(restored.taxon, restored.state, writer.name, restored.confidence,
                     restored.taxon_id, writer.annotator_id, reverts_label_id=label_id),
        )


async def store_predictions(
    conn: asyncpg.Connection, predictions: Sequence[tuple[int, str, float, float | None]]
) -> int:
    """Write (image id, taxon, confidence, raw share) as `predicted` labels of images nobody has
    judged, where the prediction changed; returns how many were written."""
    wanted = {image_id: (taxon, confidence) for image_id, taxon, confidence, _ in predictions}
    shares = {image_id: share for image_id, _, _, share in predictions}
    async with conn.transaction():
        rows = await conn.fetch(queries.LOCK_UNJUDGED, list(wanted))
        changed = []
        for row in rows:
            taxon, confidence = wanted[row["id"]]
            same = (
                row["label_state"] == "predicted"
                and row["label"] == taxon
                and row["label_confidence"] is not None
                and abs(row["label_confidence"] - confidence) < CONFIDENCE_STEP
            )
            if not same:
                changed.append((row["id"], taxon, confidence))
        if changed:
            ids, taxa, confidences = (list(column) for column in zip(*changed, strict=True))
            await conn.execute(queries.INSERT_PREDICTIONS, ids, taxa, confidences, SUGGESTER,
                               [shares[i] for i in ids])
    return len(changed)


async def accept_suggestions(
    conn: asyncpg.Connection,
    taxon: str,
    min_confidence: float,
    writer: Writer,
    *,
    project_id: int | None = None,
    instrument: str | None = None,
    image_ids: Sequence[int] | None = None,
    projects: Sequence[int] | None = None,
) -> list[int]:
    """Validate every image whose suggestion is `taxon` with at least `min_confidence`.

    The validated label keeps the suggestion's confidence: it marks a label accepted in bulk,
    which calibration must not learn from (nobody looked at the image)."""
    async with conn.transaction():
        records = await conn.fetch(
            queries.ACCEPT_SUGGESTIONS, taxon, min_confidence, project_id, instrument,
            None if image_ids is None else list(image_ids), writer.annotator_id, writer.name,
            None if projects is None else list(projects),
        )
    return [r["image_id"] for r in records]


async def suggestion_groups(
    conn: asyncpg.Connection, min_confidence: float, project_id: int | None,
    projects: Sequence[int] | None = None,
) -> list[SuggestionGroup]:
    records = await conn.fetch(queries.SUGGESTION_GROUPS, min_confidence, project_id,
                               None if projects is None else list(projects))
    return [SuggestionGroup.model_validate(dict(r)) for r in records]


async def latest_calibration(conn: asyncpg.Connection, model: str) -> StoredCalibration:
    record = await conn.fetchrow(queries.SELECT_CALIBRATION, model)
    if record is None:
        return StoredCalibration(model=model, calibration=None)
    return StoredCalibration(model=model, **dict(record))


async def store_calibration(
    conn: asyncpg.Connection, model: str, calibration: dict[str, Any], actor: int | None
) -> None:
    await conn.execute(queries.INSERT_CALIBRATION, model, calibration, actor)


async def state_counts(conn: asyncpg.Connection, project_id: int | None,
                       projects: Sequence[int] | None = None) -> dict[LabelState, int]:
    counts = dict.fromkeys(LABEL_STATES, 0)
    for record in await conn.fetch(queries.STATE_COUNTS, project_id,
                                   None if projects is None else list(projects)):
        counts[record["label_state"]] = record["count"]
    return counts


async def export_rows(
    conn: asyncpg.Connection, states: Sequence[LabelState], project_id: int | None,
    projects: Sequence[int] | None = None, after_id: int = 0, limit: int | None = None,
) -> list[ExportRow]:
    """Export rows in id order after `after_id`, at most `limit` (None: every one)."""
    records = await conn.fetch(queries.EXPORT_ROWS, list(states), project_id,
                               None if projects is None else list(projects), after_id, limit)
    return [ExportRow.model_validate(dict(r)) for r in records]
