from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from nauplius.core.image_probe import DEFAULT_MAX_SIDE
from nauplius.core.preprocess import DEFAULT_MAX_PIXELS

# int8 plankton-lite0 (`nauplius model quantize`): half the float model's CPU per image at the same
# held-out top-1 (docs/benchmarks.md, "Ingest at instrument rate")
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "plankton-lite0-int8.onnx"


class EmbedderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EMBEDDER_", env_nested_delimiter="__")

    model_path: Path = DEFAULT_MODEL
    # Several model versions served at once (zero-downtime model switch): their files, the first
    # the default (JSON list, EMBEDDER_MODEL_PATHS='["models/a.onnx", "models/b.onnx"]').
    # Empty: `model_path` alone.
    model_paths: list[Path] = []
    # images per onnxruntime run: on this 2-core EPYC, 8 cost less CPU per image than 32 (the
    # vectors are the same: benchmarks/embedder_threads.py, docs/benchmarks.md)
    batch_size: int = 8
    # test-time augmentation: "none", "hflip" (2 copies: the image and its mirror image), "flips"
    # (4 copies) or "d4" (8: flips and quarter turns);
    # the vector is the mean over the copies, at that many times the embedding cost. Unset: the
    # model card's `tta`. Vectors made with another TTA do not mix: re-index after changing it.
    tta: str | None = None
    # onnxruntime intra-op threads per embed call; 0 lets one call use every core. One thread
    # each, with max_concurrency calls at once, keeps the cores busy at less CPU per image than
    # two threads splitting each call (docs/benchmarks.md, "Ingest at instrument rate").
    threads: int = 1
    max_image_bytes: int = 20 * 1024 * 1024
    max_pixels: int = DEFAULT_MAX_PIXELS
    # an image's longest side, checked from its header with max_pixels (nauplius/core/image_probe.py)
    max_side: int = DEFAULT_MAX_SIDE
    # files decoded and embedded at once across all requests (bounds memory and CPU)
    max_concurrency: int = 2

    def served_paths(self) -> list[Path]:
        """The model files to serve, the default first."""
        return list(self.model_paths) or [self.model_path]
