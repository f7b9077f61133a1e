"""Small helpers shared by the routers."""

from typing import Annotated

from fastapi import Query
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from gateway.schemas import Image
from nauplius.core.clients import ByteStream
from nauplius.core.contracts.catalog import ImagePublic
from nauplius.core.contracts.text import Line

# Files and thumbnails are content-addressed: an id's bytes never change. Private: they were
# served to one key, so only that browser's cache may keep them, never a shared proxy.
IMMUTABLE = "private, max-age=31536000, immutable"
# An export is a snapshot of the labels for one key: kept by no cache.
UNCACHED = "private, no-store"

# Offset paging reads and skips every row before the page; no person pages 100,000 rows deep
# (a page is at most a few hundred), so deeper is refused rather than left to tie up the catalog.
MAX_OFFSET = 100_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip, at most 100,000")]
# Keyset paging: a page's `next_cursor`, opaque here; the catalog checks it (422 naming it).
Cursor = Annotated[Line | None, Query(
    max_length=2000, description="`next_cursor` of the page before: the next page, as fast deep "
                                 "as first (instead of offset)")]


def thumbnail_url(image_id: int) -> str:
    return f"/api/v1/images/{image_id}/thumbnail"


def file_url(image_id: int) -> str:
    return f"/api/v1/images/{image_id}/file"


def with_urls(image: ImagePublic) -> Image:
    """The catalog's image with the public URLs of its thumbnail and file."""
    return Image(**dict(image), thumbnail_url=thumbnail_url(image.id), file_url=file_url(image.id))


def stream_bytes(stream: ByteStream) -> StreamingResponse:
    return StreamingResponse(
        stream.chunks,
        media_type=stream.media_type,
        headers={"Cache-Control": IMMUTABLE},
        background=BackgroundTask(stream.aclose),
    )


def blank_to_none(value: str | None) -> str | None:
    """HTML forms send empty fields as ''; treat them as absent."""
    if value is None:
        return None
    value = value.strip()
    return value or None
