"""The embedder's model, resolved at first use so a caller starts before the services it needs."""

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from nauplius.core.clients import Downstream

log = logging.getLogger("nauplius.core")


@dataclass(frozen=True)
class ModelCard:
    name: str
    output_dim: int
    card: dict[str, Any]


class ActiveModel:
    """Fetches the embedder's card once and makes sure its search collection exists.

    A failure (service still starting) is not cached: the next request tries again.
    """

    def __init__(self, downstream: Downstream) -> None:
        self._downstream = downstream
        self._card: ModelCard | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> ModelCard:
        if self._card is not None:
            return self._card
        async with self._lock:
            if self._card is None:
                served = await self._downstream.embedder.model_card()
                card = ModelCard(name=served.name, output_dim=served.output_dim,
                                 card=served.model_dump(mode="json"))
                await self._downstream.search.ensure_collection(card.name, card.output_dim)
                log.info("model %s (dim %d) ready; collection ensured", card.name, card.output_dim)
                self._card = card
        return self._card
