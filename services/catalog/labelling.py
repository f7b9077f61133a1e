"""Label writes beyond one image at a time: batch assign, revert, accept suggestions, store
the suggestions' predictions, and the summaries the review screens and exports read."""

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.catalog import queries, repository, taxonomy
from services.catalog.domain import Label, NewLabel
from services.catalog.errors import ImageNotFound, InvalidMetadata, NotFound

SUGGESTER = "suggestions"
# A prediction is rewritten only when its taxon changes or its confidence moves this much, so
# refreshing the suggestions does not flood the history with near-identical rows.
CONFIDENCE_STEP = 0.01

INSERT_LABELS = """
INSERT INTO labels (image_id, taxon, annotator, state, confidence, taxon_id, annotator_id)
SELECT image_id, $2, COALESCE((SELECT name FROM annotators WHERE id = $7), $3), $4, $5, $6, $7
  FROM unnest($1::bigint[]) AS image_id
RETURNING image_id
"""
EXISTING_IDS = "SELECT id FROM images WHERE id = any($1::bigint[])"
SELECT_LABEL = f"SELECT {queries.LABEL_COLUMNS} FROM labels WHERE id = $1"
SELECT_PREVIOUS_LABEL = f"""
SELECT {queries.LABEL_COLUMNS} FROM labels WHERE image_id = $1 AND id < $2 ORDER BY id DESC LIMIT 1
"""
# Only suggestions of images nobody has judged yet; FOR UPDATE re-reads each row after its lock,
# so an image validated while the suggestions were being computed is left alone.
LOCK_UNJUDGED = """
SELECT id, label, label_state, label_confidence FROM images
 WHERE id = any($1::bigint[]) AND label_state IN ('unlabelled', 'predicted')
 ORDER BY id FOR UPDATE
"""
INSERT_PREDICTIONS = """
INSERT INTO labels (image_id, taxon, annotator, state, confidence, taxon_id)
SELECT p.image_id, p.taxon, $4, 'predicted', p.confidence, t.id
  FROM unnest($1::bigint[], $2::text[], $3::real[]) AS p (image_id, taxon, confidence)
  LEFT JOIN taxa t ON t.name = p.taxon
"""
ACCEPT_SUGGESTIONS = """
INSERT INTO labels (image_id, taxon, annotator, state, taxon_id, annotator_id, confidence)
SELECT i.id, i.label, COALESCE((SELECT name FROM annotators WHERE id = $6), $7), 'validated',
       l.taxon_id, $6, i.label_confidence
  FROM images i JOIN labels l ON l.id = i.current_label_id
 WHERE i.label_state = 'predicted' AND i.label = $1 AND i.label_confidence >= $2
   AND ($3::bigint IS NULL OR i.project_id = $3)
   AND ($4::text IS NULL OR i.instrument = $4)
   AND ($5::bigint[] IS NULL OR i.id = any($5))
ORDER BY i.id
RETURNING image_id
"""
SUGGESTION_GROUPS = """
SELECT label AS taxon, count(*) AS images,
       count(*) FILTER (WHERE label_confidence >= $1) AS confident,
       min(label_confidence) AS min_confidence, max(label_confidence) AS max_confidence
  FROM images
 WHERE label_state = 'predicted' AND ($2::bigint IS NULL OR project_id = $2)
 GROUP BY label
 ORDER BY confident DESC, images DESC, label
"""
STATE_COUNTS = """
SELECT label_state, count(*) FROM images
 WHERE ($1::bigint IS NULL OR project_id = $1) GROUP BY label_state
"""
EXPORT_ROWS = """
SELECT i.id, i.sha256, i.filename, i.format, i.width, i.height, i.instrument, i.sample,
       i.captured_at, i.created_at, p.id AS project_id, p.name AS project,
       l.taxon, l.state, l.confidence, l.created_at AS labelled_at, l.annotator,
       a.institution, t.rank, t.aphia_id
  FROM images i
  JOIN projects p ON p.id = i.project_id
  LEFT JOIN labels l ON l.id = i.current_label_id
  LEFT JOIN annotators a ON a.id = l.annotator_id
  LEFT JOIN taxa t ON t.id = l.taxon_id
 WHERE i.label_state = any($1::text[]) AND ($2::bigint IS NULL OR i.project_id = $2)
 ORDER BY i.id
"""


@dataclass(frozen=True, slots=True)
class Writer:
    """Who writes: an annotator known by id (an API key), else a free-text name."""

    annotator_id: int | None = None
    name: str | None = None


async def _check_images(conn: asyncpg.Connection, image_ids: Sequence[int]) -> None:
    found = {r["id"] for r in await conn.fetch(EXISTING_IDS, list(image_ids))}
    missing = sorted(set(image_ids) - found)
    if missing:
        raise ImageNotFound(f"unknown image ids: {missing[:20]}")


async def assign(
    conn: asyncpg.Connection,
    image_ids: Sequence[int],
    taxon: str | None,
    state: str,
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
            INSERT_LABELS, list(image_ids), taxon, writer.name, state, confidence, taxon_id,
            writer.annotator_id,
        )
    return [r["image_id"] for r in records]


async def revert(conn: asyncpg.Connection, label_id: int, writer: Writer) -> Label:
    """Undo one change: a new label that puts back what the image had before `label_id`."""
    async with conn.transaction():
        undone = await conn.fetchrow(SELECT_LABEL, label_id)
        if undone is None:
            raise NotFound(f"label {label_id} not found")
        before = await conn.fetchrow(SELECT_PREVIOUS_LABEL, undone["image_id"], label_id)
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
    conn: asyncpg.Connection, predictions: Sequence[tuple[int, str, float]]
) -> int:
    """Write (image id, taxon, confidence) as `predicted` labels of images nobody has judged,
    where the prediction changed; returns how many were written."""
    wanted = {image_id: (taxon, confidence) for image_id, taxon, confidence in predictions}
    async with conn.transaction():
        rows = await conn.fetch(LOCK_UNJUDGED, list(wanted))
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
            ids, taxa, confidences = (list(column) for column in zip(*changed))
            await conn.execute(INSERT_PREDICTIONS, ids, taxa, confidences, SUGGESTER)
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
) -> list[int]:
    """Validate every image whose suggestion is `taxon` with at least `min_confidence`.

    The validated label keeps the suggestion's confidence: it marks a label accepted in bulk,
    which calibration must not learn from (nobody looked at the image)."""
    async with conn.transaction():
        records = await conn.fetch(
            ACCEPT_SUGGESTIONS, taxon, min_confidence, project_id, instrument,
            None if image_ids is None else list(image_ids), writer.annotator_id, writer.name,
        )
    return [r["image_id"] for r in records]


async def suggestion_groups(
    conn: asyncpg.Connection, min_confidence: float, project_id: int | None
) -> list[dict]:
    return [dict(r) for r in await conn.fetch(SUGGESTION_GROUPS, min_confidence, project_id)]


async def state_counts(conn: asyncpg.Connection, project_id: int | None) -> dict[str, int]:
    counts = {state: 0 for state in ("unlabelled", "predicted", "validated", "dubious")}
    for record in await conn.fetch(STATE_COUNTS, project_id):
        counts[record["label_state"]] = record["count"]
    return counts


async def export_rows(
    conn: asyncpg.Connection, states: Sequence[str], project_id: int | None
) -> list[dict]:
    return [dict(r) for r in await conn.fetch(EXPORT_ROWS, list(states), project_id)]
