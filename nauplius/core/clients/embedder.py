"""Client of the embedder service (`/v1/embed`, `/v1/model`, `/v1/models`); answers are its
contracts' models."""

from typing import Literal

from nauplius.core.clients.base import FilePart, ServiceClient
from nauplius.core.contracts.embedder import EmbeddingResult, EmbedResponse, ModelCard, ModelCards
from nauplius.core.errors import DownstreamFailed


class EmbedderClient(ServiceClient):
    service = "embedder"

    async def model_card(self, model: str | None = None) -> ModelCard:
        """The card of `model`, the embedder's default model when None."""
        params = {} if model is None else {"model": model}
        return await self._ask(ModelCard, "GET", "/v1/model", params=params)

    async def model_cards(self) -> ModelCards:
        return await self._ask(ModelCards, "GET", "/v1/models")

    async def embed(
        self, files: list[FilePart], encoding: Literal["json", "base64"] = "json",
        model: str | None = None,
    ) -> list[EmbeddingResult]:
        """One result per file, in order, embedded by `model` (None: the embedder's default).
        `encoding="base64"` answers float32 bytes (`vector_b64`) instead of JSON numbers: for
        vectors that only travel on to the search service."""
        parts = [("files", (f.filename, f.data, f.content_type)) for f in files]
        params = {"encoding": encoding} if model is None else {"encoding": encoding, "model": model}
        answer = await self._ask(EmbedResponse, "POST", "/v1/embed", files=parts, params=params)
        if len(answer.data) != len(files) or (model is not None and answer.model != model):
            raise DownstreamFailed(self.service, 200)
        return answer.data
