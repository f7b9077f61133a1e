"""Loading the model card (`nauplius.core.contracts.embedder.ModelCard`) beside NAME.onnx."""

import hashlib
import json
from pathlib import Path

from pydantic import ValidationError

from nauplius.core.contracts.embedder import ModelCard
from services.embedder.errors import ModelCardError


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
