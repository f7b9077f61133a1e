"""Images and their labels: functions that take a connection and answer the contracts' models.

Reads take `projects`, the ids of the projects whose images the caller may read (None: every
project): an image of another project is answered as one that does not exist.
"""

from collections.abc import Collection, Sequence
from typing import NamedTuple

import asyncpg

from nauplius.core.contracts.catalog import ImagePublic, LabelChange, LabelPublic
from services.catalog import keyset, queries
from services.catalog.domain import NewImage, NewLabel
from services.catalog.errors import ImageNotFound


class ImagePage(NamedTuple):
    images: list[ImagePublic]
    total: int | None
    next_cursor: str | None


def _image(record: asyncpg.Record) -> ImagePublic:
    return ImagePublic.model_validate(dict(record))


def _readable(record: asyncpg.Record | None, projects: Collection[int] | None) -> bool:
    return record is not None and (projects is None or record["project_id"] in projects)


async def insert_image(conn: asyncpg.Connection, new: NewImage) -> ImagePublic | None:
    """Insert an image row; None when an image with this sha256 already exists.

    A concurrent insert of the same sha256 waits on the unique index until the other
    transaction ends, then answers None (ON CONFLICT DO NOTHING) instead of failing.
    """
    async with conn.transaction():
        record = await conn.fetchrow(
            queries.INSERT_IMAGE,
            new.sha256,
            new.details.filename,
            new.format,
            new.width,
            new.height,
            new.details.instrument,
            new.details.sample,
            new.details.captured_at,
            new.details.metadata,
            new.details.project_id,
            new.details.created_by,
        )
    return None if record is None else _image(record)


async def get_image(conn: asyncpg.Connection, image_id: int,
                    projects: Collection[int] | None = None) -> ImagePublic:
    record = await conn.fetchrow(queries.SELECT_IMAGE_BY_ID, image_id)
    if record is None or not _readable(record, projects):
        raise ImageNotFound(f"image {image_id} not found")
    return _image(record)


async def find_image_by_sha256(conn: asyncpg.Connection, sha256: str) -> ImagePublic | None:
    record = await conn.fetchrow(queries.SELECT_IMAGE_BY_SHA256, sha256)
    return None if record is None else _image(record)


async def get_image_by_sha256(conn: asyncpg.Connection, sha256: str,
                              projects: Collection[int] | None = None) -> ImagePublic:
    record = await conn.fetchrow(queries.SELECT_IMAGE_BY_SHA256, sha256)
    if record is None or not _readable(record, projects):
        raise ImageNotFound(f"no image with sha256 {sha256}")
    return _image(record)


async def lookup_by_sha256(conn: asyncpg.Connection, sha256s: Sequence[str],
                           projects: Collection[int] | None = None) -> list[ImagePublic]:
    """Images of the given contents, in the order asked; unknown contents are left out."""
    records = await conn.fetch(queries.SELECT_IMAGES_BY_SHA256S, list(sha256s))
    by_sha256 = {r["sha256"]: _image(r) for r in records if _readable(r, projects)}
    return [by_sha256[s] for s in dict.fromkeys(sha256s) if s in by_sha256]


async def lookup_images(conn: asyncpg.Connection, ids: Sequence[int],
                        projects: Collection[int] | None = None) -> list[ImagePublic]:
    """Images of the given ids, in the order asked; unknown ids are left out."""
    records = await conn.fetch(queries.SELECT_IMAGES_BY_IDS, list(ids))
    by_id = {r["id"]: _image(r) for r in records if _readable(r, projects)}
    return [by_id[i] for i in ids if i in by_id]


async def list_images(
    conn: asyncpg.Connection,
    limit: int,
    offset: int,
    label: str | None = None,
    state: str | None = None,
    project_id: int | None = None,
    instrument: str | None = None,
    min_confidence: float | None = None,
    order: str = "newest",
    projects: Collection[int] | None = None,
    cursor: str | None = None,
) -> ImagePage:
    """A page of images (newest first, or a review order) after `cursor` (keyset: as fast deep as
    first) or `offset`, the cursor of the next page, and the number matching the filters.

    Exact filters are counted from the maintained counts (migration 008); with `min_confidence`
    the count is a count(*) of the first page only (a cursor page answers None)."""
    filters = {"label": label, "label_state": state, "project_id": project_id,
               "instrument": instrument}
    columns = [column for column, value in filters.items() if value is not None]
    values: list[object] = [filters[column] for column in columns]
    exact_values = list(values)
    if min_confidence is not None:
        values.append(min_confidence)
    if projects is not None:
        values.append(list(projects))
        exact_values.append(list(projects))
    after = None if cursor is None else keyset.decode(cursor, order)
    page_sql, count_sql, keyset_values = queries.list_images_sql(
        columns, order, min_confidence is not None, projects is not None, after,
        labelled=state is not None and state != "unlabelled")
    # One row past the page says whether a next page exists.
    records = await conn.fetch(page_sql, limit + 1, offset, *values, *keyset_values)
    more, records = len(records) > limit, records[:limit]
    count: int | None
    if min_confidence is None:
        count = await conn.fetchval(
            queries.maintained_count_sql(columns, projects is not None), *exact_values)
    else:
        count = None if cursor is not None else await conn.fetchval(count_sql, *values)
    next_cursor = keyset.encode(order, dict(records[-1])) if more else None
    return ImagePage([_image(r) for r in records], count, next_cursor)


async def unindexed_images(
    conn: asyncpg.Connection, model: str, after_id: int, limit: int
) -> list[ImagePublic]:
    """Images not indexed in `model`, in id order, with ids above `after_id`."""
    return [_image(r) for r in await conn.fetch(queries.SELECT_UNINDEXED, model, after_id, limit)]


async def append_label(conn: asyncpg.Connection, image_id: int, new: NewLabel) -> LabelPublic:
    """Append to the image's label history; the newest entry becomes its current label."""
    async with conn.transaction():
        if not await conn.fetchval(queries.IMAGE_EXISTS, image_id):
            raise ImageNotFound(f"image {image_id} not found")
        record = await conn.fetchrow(
            queries.INSERT_LABEL,
            image_id,
            new.taxon,
            new.annotator,
            new.state,
            new.confidence,
            new.taxon_id,
            new.annotator_id,
            new.reverts_label_id,
        )
    return LabelPublic.model_validate(dict(record))


async def label_history(conn: asyncpg.Connection, image_id: int) -> list[LabelChange]:
    """The image's labels, oldest first (the last one is the current label), each with the
    taxon and state it changed from."""
    records = await conn.fetch(queries.SELECT_LABEL_HISTORY, image_id)
    if not records and not await conn.fetchval(queries.IMAGE_EXISTS, image_id):
        raise ImageNotFound(f"image {image_id} not found")
    return [LabelChange.model_validate(dict(r)) for r in records]


async def mark_indexed_many(conn: asyncpg.Connection, ids: Sequence[int], model: str) -> int:
    """Marks the images of the given ids indexed in `model`; returns how many exist."""
    status = await conn.execute(queries.MARK_INDEXED_MANY, list(ids), model)
    return int(status.split()[-1])


async def mark_indexed(conn: asyncpg.Connection, image_id: int, model: str) -> ImagePublic:
    async with conn.transaction():
        record = await conn.fetchrow(queries.MARK_INDEXED, image_id, model)
    if record is None:
        raise ImageNotFound(f"image {image_id} not found")
    return _image(record)
