"""Request and response bodies of the embedder's API, and the model card it serves."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ModelCard(BaseModel):
    """The JSON file beside NAME.onnx that says how to feed the model (docs/architecture.md)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9_-]+$")
    architecture: str
    source_weights: str
    licence: str
    training_data: str
    input_size: tuple[int, int]  # (height, width)
    colour_mode: Literal["rgb", "grey"]
    mean: list[float]
    std: list[float]
    output_dim: int = Field(gt=0)
    sha256: str
    exported_with: str
    metrics: dict[str, Any] = {}
    # Test-time augmentation the model's vectors are made with: "none", "hflip" (the mean over the
    # image and its mirror image), "flips" (over the 4 flips) or "d4" (8: flips and quarter turns).
    # Part of the model's vector space: a collection holds vectors of one model card, so of one TTA.
    tta: Literal["none", "hflip", "flips", "d4"] = "none"

    @field_validator("std")
    @classmethod
    def _std_positive(cls, std: list[float]) -> list[float]:
        if any(s <= 0 for s in std):
            raise ValueError("std values must be positive")
        return std

    @property
    def channels(self) -> int:
        return len(self.mean)


class ModelCards(BaseModel):
    """Every model version an embedder serves (GET /v1/models), the default first."""

    data: list[ModelCard]
    default: str


class EmbedderHealth(BaseModel):
    status: str
    service: str = "embedder"
    model: str


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
