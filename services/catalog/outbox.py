"""The index outbox (005_job_kinds_and_index_outbox.sql): images whose search payload must
follow a change, queued by a trigger in the changing transaction, drained by workers."""

from typing import Any

import asyncpg

from services.catalog import queries, repository


async def claim(conn: asyncpg.Connection, limit: int, lease_s: float) -> list[dict[str, Any]]:
    """Due entries of indexed images, leased, each with the image as it is now."""
    async with conn.transaction():
        entries = [dict(r) for r in await conn.fetch(queries.CLAIM_OUTBOX, limit, lease_s)]
    images = {image.id: image for image in
              await repository.lookup_images(conn, [e["image_id"] for e in entries])}
    return [{**entry, "image": images[entry["image_id"]]} for entry in entries
            if entry["image_id"] in images]


async def settle(conn: asyncpg.Connection, done: list[tuple[int, int]],
                 retry: list[tuple[int, int]], error: str | None, retry_after_s: float) -> int:
    """Remove the done entries (unless changed since: a newer version stays), release the others
    for a later try. Returns how many were removed."""
    async with conn.transaction():
        removed = await conn.fetch(queries.OUTBOX_REMOVE, [i for i, _ in done], [v for _, v in done])
        await conn.execute(queries.OUTBOX_RETRY, [i for i, _ in retry], [v for _, v in retry],
                           error, retry_after_s)
    return len(removed)


async def pending(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval(queries.OUTBOX_COUNT)
    return count
