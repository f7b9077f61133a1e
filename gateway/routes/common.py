"""Small helpers shared by the routers."""

from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from gateway.schemas import Image
from nauplius.core.clients import ByteStream
from nauplius.core.contracts.catalog import ImagePublic

# Files and thumbnails are content-addressed: an id's bytes never change.
IMMUTABLE = "public, max-age=31536000, immutable"


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
