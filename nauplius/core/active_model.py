"""The model versions in use, resolved at first use so a caller starts before the services it
needs: the active one (search answers from it, new images are indexed in it) and the others whose
collection is complete or being filled (new images and label changes go there too, so switching
to one, or back, is instant).

The catalog records which version is active (GET /v1/models, migration 013); none recorded: the
embedder's default model. The answer is kept `ttl_s` (a switch reaches every process within about
that) and then refreshed in the background: a request never waits on that call once one answer
is in."""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from nauplius.core.clients import Downstream
from nauplius.core.contracts.embedder import ModelCard as ServedCard
from nauplius.core.errors import DownstreamError

log = logging.getLogger("nauplius.core")

# Seconds an answer of the catalog is used before it is asked again (in the background).
TTL_S = 1.0


@dataclass(frozen=True)
class ModelCard:
    name: str
    output_dim: int
    card: dict[str, Any]


@dataclass(frozen=True)
class Versions:
    active: ModelCard
    # Complete or filling versions besides the active one that the embedder serves.
    others: tuple[ModelCard, ...] = ()
    filling: frozenset[str] = frozenset()  # names among `others` still being filled

    @property
    def written(self) -> tuple[ModelCard, ...]:
        """Every version a new image or label change goes to, the active one first."""
        return (self.active, *self.others)


class ModelNotServed(DownstreamError):
    """The catalog names a version the embedder does not serve (EMBEDDER_MODEL_PATHS)."""

    status_code = 503

    def __init__(self, name: str) -> None:
        super().__init__("embedder")
        self.name = name

    @property
    def detail(self) -> str:
        return f"the active model {self.name} is not served by the embedder"


class ActiveModel:
    """A failure before the first answer (services still starting) is not kept: the next request
    tries again. A failed refresh keeps the last answer."""

    def __init__(self, downstream: Downstream, ttl_s: float = TTL_S) -> None:
        self._downstream = downstream
        self._ttl_s = ttl_s
        self._versions: Versions | None = None
        self._fetched_at = 0.0
        self._refreshing: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._served: dict[str, ModelCard] = {}
        self._default: str | None = None
        self._ensured: set[str] = set()

    async def get(self) -> ModelCard:
        """The active version."""
        return (await self.versions()).active

    async def written(self) -> tuple[ModelCard, ...]:
        """Every version a new image goes to, the active one first (Versions.written)."""
        return (await self.versions()).written

    async def versions(self) -> Versions:
        current = self._versions
        if current is None:
            async with self._lock:
                if self._versions is None:
                    await self.refresh()
            assert self._versions is not None
            return self._versions
        stale = time.monotonic() - self._fetched_at > self._ttl_s
        if stale and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.create_task(self._refresh_quietly())
        return current

    async def refresh(self) -> Versions:
        """Ask the catalog now (after a switch made by this process: it holds at once here)."""
        versions = await self._resolve()
        self._versions, self._fetched_at = versions, time.monotonic()
        return versions

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except DownstreamError as exc:
            log.warning("model versions not refreshed (the last answer stays): %s", exc.detail)
        except Exception:
            log.exception("model versions not refreshed (the last answer stays)")

    async def _resolve(self) -> Versions:
        if not self._served:
            await self._load_served()
        recorded = await self._downstream.catalog.model_versions()
        if any(v.name not in self._served for v in recorded.data):
            await self._load_served()  # the embedder may have been restarted with more models
        active_name = recorded.active or self._default
        assert active_name is not None  # the embedder always has a default
        if active_name not in self._served:
            raise ModelNotServed(active_name)
        others = [v for v in recorded.data if not v.active and v.name != active_name]
        unserved = [v.name for v in others if v.name not in self._served]
        if unserved:
            log.warning("versions %s are not served by the embedder: new images skip them",
                        ", ".join(unserved))
        kept = tuple(self._served[v.name] for v in others if v.name in self._served)
        # A version retired since (its collection dropped) is ensured again if it comes back.
        self._ensured &= {active_name, *(card.name for card in kept)}
        for card in (self._served[active_name], *kept):
            await self._ensure(card)
        filling = frozenset(v.name for v in others if v.state == "filling")
        return Versions(self._served[active_name], kept, filling)

    async def _load_served(self) -> None:
        served = await self._downstream.embedder.model_cards()
        self._served = {card.name: _card(card) for card in served.data}
        self._default = served.default

    async def _ensure(self, card: ModelCard) -> None:
        if card.name in self._ensured:
            return
        await self._downstream.search.ensure_collection(card.name, card.output_dim)
        log.info("model %s (dim %d) ready; collection ensured", card.name, card.output_dim)
        self._ensured.add(card.name)


def _card(served: ServedCard) -> ModelCard:
    return ModelCard(name=served.name, output_dim=served.output_dim,
                     card=served.model_dump(mode="json"))
