from pathlib import Path

import cv2
import numpy as np
import pytest

from services.embedder.model import Embedder

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / ".." / "shared" / "data"
MODEL = REPO / "models" / "efficientnet-lite0-imagenet.onnx"


def first_images(folder: str, count: int = 1, pattern: str = "*.jp*g") -> list[Path]:
    paths = sorted((DATA / folder).glob(pattern))[:count]
    assert len(paths) == count, f"expected {count} images in {DATA / folder}"
    return paths


def bgr(path: Path) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)


def encode(ext: str, image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder(MODEL, threads=2, batch_size=32)


@pytest.fixture(scope="session")
def zoolake_jpeg() -> Path:
    return first_images("zoolake/daphnia")[0]
