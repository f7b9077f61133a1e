"""The embedder's shipped model, and OpenCV's codecs for images made or altered in a test."""

from pathlib import Path

import cv2
import numpy as np

from tests.support.data import REPO_ROOT

MODEL = REPO_ROOT / "models" / "efficientnet-lite0-imagenet.onnx"


def bgr(path: Path) -> np.ndarray:
    """The image file at `path`, decoded by OpenCV (BGR, or grey kept as three channels)."""
    image = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, f"OpenCV cannot decode {path}"
    return image


def encode(ext: str, image: np.ndarray) -> bytes:
    """`image` encoded by OpenCV as `ext` (".png", ".jpg", ...)."""
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()
