"""Client of the embedder service (`/v1/embed`, `/v1/model`); answers are its contracts' models."""

from typing import Literal

from pydantic import ValidationError

from nauplius.core.clients.base import FilePart, ServiceClient
from nauplius.core.contracts.embedder import EmbeddingResult, EmbedResponse, ModelCard
from nauplius.core.errors import DownstreamFailed


class EmbedderClient(ServiceClient):
    service = "embedder"

    async def model_card(self) -> ModelCard:
        body = await self._call("GET", "/v1/model")
        try:
            return ModelCard.model_validate(body)
        except ValidationError as exc:
            raise DownstreamFailed(self.service, 200) from exc

    async def embed(
        self, files: list[FilePart], encoding: Literal["json", "base64"] = "json"
    ) -> list[EmbeddingResult]:
        """One result per file, in order. `encoding="base64"` answers float32 bytes
        (`vector_b64`) instead of JSON numbers: for vectors that only travel on to the search
        service."""
        parts = [("files", (f.filename, f.data, f.content_type)) for f in files]
        body = await self._call("POST", "/v1/embed", files=parts, params={"encoding": encoding})
        try:
            answer = EmbedResponse.model_validate(body)
        except ValidationError as exc:
            raise DownstreamFailed(self.service, 200) from exc
        if len(answer.data) != len(files):
            raise DownstreamFailed(self.service, 200)
        return answer.data
