"""`nauplius model quantize`: an int8 copy of a carded ONNX model, with a card of its own.

Static quantization (onnxruntime.quantization): QDQ format, int8 weights per output channel,
uint8 activations (the U8S8 kernels x86 CPUs run fastest), activation ranges (MinMax) calibrated
on real images from the training split of labelled `<class>/<image>` folders, prepared exactly as
the embedder prepares them. The held-out split `nauplius eval --holdout` scores on is never seen.

The same model, folders, sample size and seed give the same bytes: the sample is seeded and
sorted, and quantization is deterministic.
"""
from __future__ import annotations

import hashlib
import json
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

from nauplius.core.contracts.embedder import ModelCard
from nauplius.core.preprocess import decode_image, prepare
from nauplius.training.datasets import ImageFile, labelled_images
from nauplius.training.splits import file_list_sha256, set_name, stratified_split
from services.embedder.card import load_card

CALIBRATION_BATCH = 16
MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class Recipe:
    """What decides the int8 model's bytes; written into its card."""

    images: int = 256  # calibration images, shared equally among the folders
    holdout: float = 0.2  # calibrate on the training part of this seeded split only
    seed: int = 0


def calibration_sample(folders: list[Path], recipe: Recipe) -> list[ImageFile]:
    """A seeded sample of each folder's training split (the same split eval holds out)."""
    per_folder = max(1, recipe.images // len(folders))
    sample: list[ImageFile] = []
    for folder in folders:
        train = stratified_split(labelled_images(folder), recipe.holdout, recipe.seed).train
        chosen = random.Random(recipe.seed).sample(train, min(per_folder, len(train)))
        sample += sorted(chosen, key=lambda f: (f.label or "", f.path.name))
    return sample


class _PreparedImages(CalibrationDataReader):
    def __init__(self, files: list[ImageFile], card: ModelCard, input_name: str):
        self._batches = self._read(files, card, input_name)

    @staticmethod
    def _read(files: list[ImageFile], card: ModelCard,
              input_name: str) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(files), CALIBRATION_BATCH):
            chunk = files[start:start + CALIBRATION_BATCH]
            yield {input_name: np.stack([prepare(decode_image(f.path.read_bytes(), MAX_PIXELS), card)
                                         for f in chunk])}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize(model_path: Path, calibration: list[Path], out: Path,
             recipe: Recipe = Recipe()) -> Path:
    """Write OUT.onnx (int8) and its card OUT.json from MODEL_PATH and its card; returns OUT.onnx."""
    card = load_card(model_path)
    files = calibration_sample(calibration, recipe)  # ValueError naming a folder without images
    onnx_path = out.with_suffix(".onnx")
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    input_name = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"]) \
        .get_inputs()[0].name
    with tempfile.TemporaryDirectory(prefix="nauplius-quantize-") as scratch:
        # shape inference and graph folding first, as onnxruntime recommends before quantizing
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(model_path), str(prepared))
        quantize_static(str(prepared), str(onnx_path), _PreparedImages(files, card, input_name),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    # the source's TTA is kept; why it was chosen (figures of the float model) is not
    int8_card = {k: v for k, v in card.model_dump(mode="json").items() if k != "tta_why"} | {
        "name": onnx_path.stem,
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "exported_with": f"{card.exported_with}; quantized with onnxruntime {ort.__version__}",
        "quantization": {
            "source_model": model_path.name,
            "source_sha256": card.sha256,
            "method": "static, QDQ, per-channel int8 weights, uint8 activations, MinMax "
                      "calibration (onnxruntime.quantization.quantize_static after "
                      "quant_pre_process)",
            "calibration": {
                "images": len(files),
                "sets": {set_name(folder): sum(1 for f in files if f.path.is_relative_to(folder))
                         for folder in calibration},
                "split": f"training part of stratified_split(holdout={recipe.holdout}, "
                         f"seed={recipe.seed})",
                "seed": recipe.seed,
                "file_list_sha256": file_list_sha256(files),
            },
            "command": f"nauplius model quantize --model {model_path} --calibration "
                       + " ".join(map(str, calibration))
                       + f" --images {recipe.images} --out {out}",
        },
        "metrics": {},
    }
    onnx_path.with_suffix(".json").write_text(json.dumps(int8_card, indent=2) + "\n")
    return onnx_path
