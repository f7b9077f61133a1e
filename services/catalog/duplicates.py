"""Near-duplicate pairs: flags written at ingest, pages of them, and their merge or dismissal.

A merge keeps the image with the better label: a validated label beats any other, any label
beats none (unlabelled), and on a tie the image stored first (the pair's `of_image`) keeps it.
The other image gets `duplicate_of` set, which takes it out of listings, exports and (through the
counts trigger of migration 011) the maintained counts, all in the merging transaction."""

from collections.abc import Sequence

import asyncpg

from nauplius.core.contracts.duplicates import (
    DuplicateImage,
    DuplicatePair,
    DuplicateSettled,
    DuplicateStatus,
    NearDuplicateIn,
)
from services.catalog import queries
from services.catalog.access import Scope
from services.catalog.errors import Conflict, NotFound

# Higher is better: which image of a merged pair keeps its label.
_STATE_RANK = {"validated": 3, "dubious": 2, "predicted": 1, "unlabelled": 0}


class PairNotFound(NotFound):
    pass


async def flag(conn: asyncpg.Connection, flags: Sequence[NearDuplicateIn]) -> int:
    status = await conn.execute(queries.INSERT_NEAR_DUPLICATES, [f.image_id for f in flags],
                                [f.of_image_id for f in flags], [f.cosine for f in flags])
    return int(status.split()[-1])


def _pair(record: asyncpg.Record) -> DuplicatePair:
    return DuplicatePair(
        image=DuplicateImage(id=record["image_id"], label=record["image_label"],
                             label_state=record["image_state"],
                             duplicate_of=record["image_duplicate_of"]),
        of_image=DuplicateImage(id=record["of_image_id"], label=record["of_label"],
                                label_state=record["of_state"], duplicate_of=record["of_duplicate_of"]),
        cosine=round(record["cosine"], 4), status=record["status"], project_id=record["project_id"],
        created_at=record["created_at"])


async def pairs(conn: asyncpg.Connection, status: DuplicateStatus, projects: list[int] | None,
                limit: int, offset: int) -> tuple[list[DuplicatePair], int]:
    records = await conn.fetch(queries.SELECT_DUPLICATE_PAIRS, status, projects, limit, offset)
    count = await conn.fetchval(queries.COUNT_DUPLICATE_PAIRS, status, projects)
    return [_pair(r) for r in records], count


def kept_and_merged(pair: DuplicatePair) -> tuple[DuplicateImage, DuplicateImage]:
    first, flagged = pair.of_image, pair.image
    if _STATE_RANK[flagged.label_state] > _STATE_RANK[first.label_state]:
        return flagged, first
    return first, flagged


async def _open_pair(conn: asyncpg.Connection, scope: Scope, image_id: int,
                     doing: str) -> asyncpg.Record:
    record = await conn.fetchrow(queries.SELECT_DUPLICATE_PAIR_FOR_UPDATE, image_id)
    if record is None:
        raise PairNotFound(f"image {image_id} is not flagged as a near-duplicate")
    for project in {record["project_id"], record["of_project_id"]}:
        scope.require(project, "annotator", doing)
    if record["status"] != "open":
        raise Conflict(f"the near-duplicate pair of image {image_id} is already {record['status']}")
    for column, image in (("image_duplicate_of", image_id), ("of_duplicate_of", record["of_image_id"])):
        if record[column] is not None:
            raise Conflict(f"image {image} is already merged into image {record[column]}")
    return record


async def settle(conn: asyncpg.Connection, scope: Scope, image_id: int,
                 status: DuplicateStatus, actor: int | None) -> DuplicateSettled:
    """`status` merged or dismissed; 404 for an image never flagged, 403 outside the caller's
    annotated projects, 409 for a pair already settled or an image already merged elsewhere."""
    doing = "merging near-duplicates" if status == "merged" else "dismissing a near-duplicate"
    async with conn.transaction():
        record = await _open_pair(conn, scope, image_id, doing)
        kept = merged = None
        if status == "merged":
            keep, merge = kept_and_merged(_pair(record))
            await conn.execute(queries.MARK_DUPLICATE_OF, merge.id, keep.id)
            kept, merged = keep.id, merge.id
        await conn.execute(queries.SETTLE_NEAR_DUPLICATE, image_id, status, actor)
    return DuplicateSettled(image_id=image_id, of_image_id=record["of_image_id"], status=status,
                            kept_id=kept, merged_id=merged)
