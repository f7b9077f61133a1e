from pydantic import BaseModel, Field

from services.embedder.card import ModelCard


class EmbeddingResult(BaseModel):
    vector: list[float] | None = None
    # With ?encoding=base64: the vector as base64 of little-endian float32, instead of `vector`.
    # A 1280-d vector is 7 KB this way against 26 KB of JSON numbers, and costs next to nothing
    # to write and read: the ingest path's encoding, JSON stays the default.
    vector_b64: str | None = Field(default=None)
    error: str | None = None


class EmbedResponse(BaseModel):
    model: str
    dim: int
    data: list[EmbeddingResult]


class Health(BaseModel):
    status: str
    service: str = "embedder"
    model: str


__all__ = ["EmbedResponse", "EmbeddingResult", "Health", "ModelCard"]
