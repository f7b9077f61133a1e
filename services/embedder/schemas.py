from pydantic import BaseModel

from services.embedder.card import ModelCard


class EmbeddingResult(BaseModel):
    vector: list[float] | None = None
    error: str | None = None


class EmbedResponse(BaseModel):
    model: str
    dim: int
    data: list[EmbeddingResult]


class Health(BaseModel):
    status: str
    model: str


__all__ = ["EmbedResponse", "EmbeddingResult", "Health", "ModelCard"]
