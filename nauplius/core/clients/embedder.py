"""Client of the embedder service (`/v1/embed`, `/v1/model`); answers are its contracts' models."""

from typing import Literal

from nauplius.core.clients.base import FilePart, ServiceClient
from nauplius.core.contracts.embedder import EmbeddingResult, EmbedResponse, ModelCard
from nauplius.core.errors import DownstreamFailed


class EmbedderClient(ServiceClient):
    service = "embedder"

    async def model_card(self) -> ModelCard:
        return await self._ask(ModelCard, "GET", "/v1/model")

    async def embed(
        self, files: list[FilePart], encoding: Literal["json", "base64"] = "json"
    ) -> list[EmbeddingResult]:
        """One result per file, in order. `encoding="base64"` answers float32 bytes
        (`vector_b64`) instead of JSON numbers: for vectors that only travel on to the search
        service."""
        parts = [("files", (f.filename, f.data, f.content_type)) for f in files]
        answer = await self._ask(EmbedResponse, "POST", "/v1/embed", files=parts,
                                 params={"encoding": encoding})
        if len(answer.data) != len(files):
            raise DownstreamFailed(self.service, 200)
        return answer.data
