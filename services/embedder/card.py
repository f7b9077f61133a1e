"""The model card: the JSON file beside NAME.onnx that says how to feed the model."""

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.embedder.errors import ModelCardError


class ModelCard(BaseModel):
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
    metrics: dict = {}
    # Test-time augmentation the model's vectors are made with: "none", "flips" (the mean over the
    # 4 flips) or "d4" (8: flips and quarter turns). Part of the model's vector space: a
    # collection holds vectors of one model card, so of one TTA.
    tta: Literal["none", "flips", "d4"] = "none"

    @field_validator("std")
    @classmethod
    def _std_positive(cls, std: list[float]) -> list[float]:
        if any(s <= 0 for s in std):
            raise ValueError("std values must be positive")
        return std

    @property
    def channels(self) -> int:
        return len(self.mean)


def load_card(model_path: Path) -> ModelCard:
    """Read NAME.json beside NAME.onnx and check that it describes that very file."""
    card_path = model_path.with_suffix(".json")
    try:
        card = ModelCard.model_validate(json.loads(card_path.read_text()))
    except FileNotFoundError:
        raise ModelCardError(f"model card {card_path} not found beside {model_path.name}") from None
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ModelCardError(f"model card {card_path} is invalid: {exc}") from None
    if len(card.mean) != len(card.std) or card.channels not in (1, 3):
        raise ModelCardError(f"{card_path}: mean and std must both have 1 or 3 values")
    digest = _sha256(model_path)
    if digest != card.sha256:
        raise ModelCardError(f"{model_path} has sha256 {digest}, its card says {card.sha256}")
    return card


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
