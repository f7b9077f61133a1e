"""/v1/index-outbox: images whose search payload must follow a change (queued by a trigger in
the changing transaction), claimed and settled by workers."""

from fastapi import APIRouter

from nauplius.core.contracts.catalog import (
    OutboxClaimRequest,
    OutboxEntries,
    OutboxEntry,
    OutboxSettle,
    OutboxSettled,
    OutboxStatus,
)
from services.catalog import outbox
from services.catalog.deps import ConnectionDep

router = APIRouter(prefix="/v1/index-outbox")


@router.get("")
async def outbox_status(conn: ConnectionDep) -> OutboxStatus:
    return OutboxStatus(pending=await outbox.pending(conn))


@router.post("/claim")
async def claim(conn: ConnectionDep, body: OutboxClaimRequest) -> OutboxEntries:
    entries = await outbox.claim(conn, body.limit, body.lease_s)
    return OutboxEntries(data=[OutboxEntry.model_validate(e) for e in entries])


@router.post("/settle")
async def settle(conn: ConnectionDep, body: OutboxSettle) -> OutboxSettled:
    removed = await outbox.settle(
        conn, [(v.image_id, v.version) for v in body.done],
        [(v.image_id, v.version) for v in body.retry], body.error, body.retry_after_s)
    return OutboxSettled(removed=removed)
