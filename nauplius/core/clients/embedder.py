"""Client of the embedder service (`/v1/embed`, `/v1/model`)."""

from dataclasses import dataclass

from nauplius.core.clients.base import FilePart, Json, ServiceClient
from nauplius.core.errors import DownstreamFailed


@dataclass(frozen=True)
class EmbedResult:
    vector: list[float] | None
    error: str | None
    vector_b64: str | None = None  # with encoding="base64": float32 bytes, for the search upsert


class EmbedderClient(ServiceClient):
    service = "embedder"

    async def model_card(self) -> Json:
        return await self._call("GET", "/v1/model")

    async def embed(self, files: list[FilePart], encoding: str = "json") -> list[EmbedResult]:
        """`encoding="base64"` answers float32 bytes (`vector_b64`) instead of JSON numbers:
        for vectors that only travel on to the search service."""
        parts = [("files", (f.filename, f.data, f.content_type)) for f in files]
        body = await self._call("POST", "/v1/embed", files=parts, params={"encoding": encoding})
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or len(data) != len(files):
            raise DownstreamFailed(self.service, 200)
        return [EmbedResult(item.get("vector"), item.get("error"), item.get("vector_b64"))
                for item in data]
