"""Keep the search index's label payload in step with the catalog after label writes."""

import logging
from collections import defaultdict
from typing import Any

from nauplius.core.active_model import ActiveModel
from nauplius.core.clients import Downstream
from nauplius.core.errors import DownstreamRejected

log = logging.getLogger("nauplius.core")


async def sync_index(
    downstream: Downstream, active_model: ActiveModel, images: list[dict[str, Any]]
) -> None:
    """Copy each image's current label and state to its search point (one call per group)."""
    model = await active_model.get()
    groups: dict[tuple[str | None, str], list[int]] = defaultdict(list)
    for image in images:
        groups[(image.get("label"), image.get("label_state"))].append(image["id"])
    for (label, state), ids in groups.items():
        try:
            await downstream.search.set_payload(model.name, ids, {"label": label, "state": state})
        except DownstreamRejected as exc:
            # Not in the index yet (upload interrupted): the next upload of its bytes indexes
            # it with the catalog's label, so the catalog stays the source of truth.
            if exc.status_code != 404:
                raise
            log.warning("images %s labelled but not in collection %s", ids[:10], model.name)


async def sync_ids(downstream: Downstream, active_model: ActiveModel, ids: list[int]) -> None:
    if ids:
        await sync_index(downstream, active_model, await downstream.catalog.lookup(ids))
