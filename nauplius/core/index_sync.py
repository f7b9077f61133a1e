"""The search index's payload of an image, and writing it: what keeps the index in step with the
catalog. The catalog queues every change in its index outbox (same transaction); the worker drains
it with `apply_payloads`; the gateway applies a label write at once too, best effort."""

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from nauplius.core.active_model import ActiveModel
from nauplius.core.clients import Downstream
from nauplius.core.clients.search import SearchClient
from nauplius.core.contracts.catalog import ImagePublic
from nauplius.core.errors import DownstreamError

log = logging.getLogger("nauplius.core")

PAYLOAD_KEYS = ("label", "state", "instrument", "sample", "project")
Image = Mapping[str, Any] | BaseModel


def payload_of(image: Image) -> dict[str, Any]:
    """The payload a point carries for label, state, instrument, sample and project filters."""
    fields = dict(image)
    return {
        "label": fields.get("label"),
        "state": fields.get("label_state"),
        "instrument": fields.get("instrument"),
        "sample": fields.get("sample"),
        "project": str(fields.get("project_id") or 1),
    }


async def apply_payloads(search: SearchClient, collection: str, images: Iterable[Image]) -> None:
    """Write each image's payload to its point, one call per distinct payload. A point missing
    from the index is the caller's to judge (DownstreamRejected 404)."""
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for image in images:
        payload = payload_of(image)
        groups[tuple(payload[key] for key in PAYLOAD_KEYS)].append(dict(image)["id"])
    for values, ids in groups.items():
        await search.set_payload(collection, ids, dict(zip(PAYLOAD_KEYS, values, strict=True)))


async def sync_ids(downstream: Downstream, active_model: ActiveModel, ids: list[int]) -> None:
    """Apply these images' payloads now, where the services allow; the outbox makes it hold."""
    if not ids:
        return
    try:
        images = await downstream.catalog.lookup(ids)
    except DownstreamError as exc:
        _left_to_outbox(len(ids), exc)
        return
    await sync_images(downstream, active_model, images)


async def sync_images(downstream: Downstream, active_model: ActiveModel,
                      images: list[ImagePublic]) -> None:
    """`sync_ids` for images the caller already holds as the catalog answered them: in every
    model version kept (the active one, and those complete or being filled)."""
    try:
        await apply_everywhere(downstream.search, active_model, images)
    except DownstreamError as exc:
        _left_to_outbox(len(images), exc)


async def apply_everywhere(search: SearchClient, active_model: ActiveModel,
                           images: Sequence[Image]) -> None:
    """`apply_payloads` in the collection of every model version kept, the active one first; a
    merged near-duplicate's point is deleted there instead (its twin stands for both).
    A point not yet in a filling collection is skipped there: its re-embed writes the payload
    it reads then, and reads it again after the upsert."""
    merged = [dict(image)["id"] for image in images if dict(image).get("duplicate_of")]
    kept = [image for image in images if not dict(image).get("duplicate_of")]
    for model in (await active_model.versions()).written:
        if merged:
            await search.delete(model.name, merged)
        await apply_payloads(search, model.name, kept)


def _left_to_outbox(count: int, exc: DownstreamError) -> None:
    log.warning("index payloads of %d images left to the outbox: %s", count, exc.detail)
