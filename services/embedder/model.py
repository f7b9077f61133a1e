"""The Embedder: an ONNX CNN plus its card, turning decoded images into unit vectors."""

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

from nauplius.core.contracts.embedder import ModelCard
from nauplius.core.preprocess import prepare
from services.embedder.card import load_card
from services.embedder.errors import ModelCardError

log = logging.getLogger("nauplius.embedder")

# Most preferred first; whichever of these this onnxruntime build offers is used.
PROVIDER_PREFERENCE = ("CUDAExecutionProvider", "CoreMLExecutionProvider", "CPUExecutionProvider")


class InferenceSession(Protocol):
    """What the Embedder needs of an onnxruntime.InferenceSession."""

    def run(self, output_names: Sequence[str] | None, input_feed: dict[str, Any]) -> list[Any]: ...

    def get_inputs(self) -> list[Any]: ...

    def get_outputs(self) -> list[Any]: ...


def open_session(model_path: Path, threads: int) -> InferenceSession:
    available = ort.get_available_providers()
    providers = [p for p in PROVIDER_PREFERENCE if p in available]
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning: the services share the machine's cores, and
    # spinning threads burn CPU the catalog, the worker and the other embed call need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(model_path), sess_options=options, providers=providers)
    log.info("onnxruntime session for %s: providers=%s intra_op_threads=%s",
             model_path.name, session.get_providers(), threads or "all cores")
    opened: InferenceSession = session
    return opened


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = vectors / np.maximum(norms, np.finfo(np.float32).tiny)
    return unit


# Test-time augmentation: copies of each (n, c, h, w) input whose embeddings are averaged, each
# copy named by (mirrored left to right, then turned by this many quarter turns).
Variant = tuple[bool, int]

TTA_VARIANTS: dict[str, tuple[Variant, ...]] = {
    "none": ((False, 0),),
    "hflip": ((False, 0), (True, 0)),  # the image and its mirror image
    # the 4 flips: as is, left-right, up-down (mirrored and turned twice), both (turned twice)
    "flips": ((False, 0), (True, 0), (True, 2), (False, 2)),
    "d4": tuple((flipped, quarters)  # all 8 flips and quarter turns
                for flipped in (False, True) for quarters in range(4)),
}


def transformed(batch: np.ndarray, variant: Variant) -> np.ndarray:
    """Inputs (n, c, h, w) mirrored left to right (if flipped), then turned by quarter turns."""
    flipped, quarters = variant
    return np.ascontiguousarray(np.rot90(batch[..., ::-1] if flipped else batch, quarters,
                                         axes=(2, 3)))


class Embedder:
    def __init__(self, model_path: Path | str, threads: int = 0, batch_size: int = 32,
                 session: InferenceSession | None = None, tta: str | None = None):
        """`tta` None: the card's; the card served (`.card`) says which TTA is in use."""
        model_path = Path(model_path)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if tta is not None and tta not in TTA_VARIANTS:
            raise ValueError(f"tta must be one of {', '.join(TTA_VARIANTS)}, not {tta!r}")
        card = load_card(model_path)
        self.tta = tta or card.tta
        self.card: ModelCard = card.model_copy(update={"tta": self.tta})
        self._session = session if session is not None else open_session(model_path, threads)
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        fixed_batch = model_input.shape[0]
        # a model exported with a fixed batch axis is fed chunks of exactly that size
        self._fixed_batch = fixed_batch if isinstance(fixed_batch, int) and fixed_batch > 0 else None
        self.batch_size = self._fixed_batch or batch_size
        self._check_shapes(model_input.shape, self._session.get_outputs()[0].shape)
        log.info("model %s loaded: input %s, %d-d output, batch size %d%s", self.card.name,
                 model_input.shape, self.card.output_dim, self.batch_size,
                 " (fixed by the model)" if self._fixed_batch else "")

    def _check_shapes(self, input_shape: Sequence[Any], output_shape: Sequence[Any]) -> None:
        expected = (self.card.channels, *self.card.input_size)
        declared = tuple(input_shape[1:])
        if len(declared) != 3 or any(isinstance(d, int) and d != e
                                     for d, e in zip(declared, expected, strict=True)):
            raise ModelCardError(f"model input {list(input_shape)} does not take the card's "
                                 f"{list(expected)} images")
        if len(output_shape) >= 2 and isinstance(output_shape[1], int) \
                and output_shape[1] != self.card.output_dim:
            raise ModelCardError(f"model output {list(output_shape)} is not the card's "
                                 f"{self.card.output_dim}-d")

    @property
    def dim(self) -> int:
        return self.card.output_dim

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Decoded images (see preprocess.decode_image) -> (n, dim) L2-normalised float32."""
        return self.embed_prepared(np.stack([prepare(image, self.card) for image in images])
                                   if images else np.empty((0, self.card.channels,
                                                            *self.card.input_size), np.float32))

    def embed_prepared(self, batch: np.ndarray) -> np.ndarray:
        """Model inputs (n, c, h, w) float32 -> (n, dim) L2-normalised float32.

        With test-time augmentation the vector is the normalised mean over the flipped/rotated
        copies of each input (square inputs only rotate by 90 degrees exactly)."""
        variants = TTA_VARIANTS[self.tta]
        if len(variants) == 1:
            return self._embed(batch)
        total: np.ndarray = np.sum([self._embed(transformed(batch, variant))
                                    for variant in variants], axis=0)
        return _normalise(total)

    def _embed(self, batch: np.ndarray) -> np.ndarray:
        chunks = [self._run(batch[i:i + self.batch_size])
                  for i in range(0, len(batch), self.batch_size)]
        if not chunks:
            return np.empty((0, self.dim), np.float32)
        return _normalise(np.concatenate(chunks).astype(np.float32, copy=False))

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        n = len(chunk)
        if self._fixed_batch and n < self._fixed_batch:  # fill the fixed batch, keep the first n
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], self._fixed_batch - n, axis=0)])
        (output,) = self._session.run(None, {self._input_name: chunk})[:1]
        output = np.asarray(output)[:n].reshape(n, -1)  # (n, d, 1, 1) pooled maps flatten to (n, d)
        if output.shape[1] != self.dim:
            raise ModelCardError(f"model gave {output.shape[1]}-d vectors, card says {self.dim}")
        return output
