"""Storing an upload: validate the bytes, then row + files in one transaction."""

import hashlib
from dataclasses import dataclass, replace

import anyio
import asyncpg

from nauplius.core.contracts.catalog import ImagePublic
from nauplius.core.image_probe import DEFAULT_MAX_SIDE
from services.catalog import repository, taxonomy
from services.catalog.decoding import decode_image, is_own_thumbnail, make_thumbnail
from services.catalog.domain import ImageDetails, NewImage, NewLabel
from services.catalog.staging import StagingStore
from services.catalog.storage import ImageStore

# Bytes hashed on the event loop (a few tens of microseconds); larger uploads in a thread. A
# thread hop costs more than hashing the typical plankton image (1-20 KB).
INLINE_HASH_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class PreparedImage:
    format: str
    width: int
    height: int
    thumbnail: bytes | None  # None: the image is its own thumbnail (a small JPEG)


def prepare_image(
    data: bytes, max_pixels: int, max_side: int, thumbnail_size: int
) -> PreparedImage:
    """Decode (raising UndecodableImage / ImageTooLarge) and make the thumbnail. Blocking."""
    image_format, pixels = decode_image(data, max_pixels, max_side)
    height, width = pixels.shape[:2]
    thumbnail = (None if is_own_thumbnail(image_format, pixels, len(data), thumbnail_size)
                 else make_thumbnail(pixels, thumbnail_size))
    return PreparedImage(image_format, width, height, thumbnail)


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Ingestor:
    store: ImageStore
    limiter: anyio.CapacityLimiter
    max_pixels: int
    thumbnail_size: int
    max_side: int = DEFAULT_MAX_SIDE

    async def store_upload(
        self,
        conn: asyncpg.Connection,
        data: bytes,
        details: ImageDetails | None = None,
        label: NewLabel | None = None,
        create_taxon: bool = False,
    ) -> tuple[ImagePublic, bool]:
        """(image, duplicate). A known sha256 answers the existing row and stores nothing.

        `create_taxon` adds the label's taxon to the tree when it is not there (admin uploads).
        """
        sha256 = (_sha256_hex(data) if len(data) <= INLINE_HASH_BYTES
                  else await anyio.to_thread.run_sync(_sha256_hex, data, limiter=self.limiter))
        existing = await repository.find_image_by_sha256(conn, sha256)
        if existing is not None:
            return existing, True
        prepared = await anyio.to_thread.run_sync(
            prepare_image, data, self.max_pixels, self.max_side, self.thumbnail_size,
            limiter=self.limiter,
        )
        new = NewImage(
            sha256, prepared.format, prepared.width, prepared.height, details or ImageDetails()
        )
        # Files are written before commit: a visible row always has its files. A crash between
        # write and commit leaves only unreferenced, complete files, reused by the next upload.
        async with conn.transaction():
            image = await repository.insert_image(conn, new)
            if image is None:  # a concurrent upload of the same bytes committed first
                return await repository.get_image_by_sha256(conn, sha256), True
            await anyio.to_thread.run_sync(
                self.store.write,
                sha256,
                prepared.format,
                data,
                prepared.thumbnail,
                # an ingest job's item: its bytes are staged already, linked instead of copied
                StagingStore(self.store.data_dir).path(sha256),
                limiter=self.limiter,
            )
            if label is not None and label.taxon is not None:
                taxon_id = await taxonomy.resolve_taxon(
                    conn, label.taxon, create=create_taxon, actor=label.annotator_id
                )
                label = replace(label, taxon_id=taxon_id)
            if label is not None:
                await repository.append_label(conn, image.id, label)
                image = await repository.get_image(conn, image.id)
        return image, False
