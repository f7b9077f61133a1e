"""Augmented copies of real images: what a near-duplicate looks like (issue #18)."""

import cv2
import numpy as np


def _decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not an image"
    return image


def shifted(data: bytes, pixels: int = 2) -> bytes:
    """The image moved by `pixels` right and down (edges replicated), as JPEG quality 95."""
    image = _decoded(data)
    matrix = np.array([[1, 0, pixels], [0, 1, pixels]], dtype=np.float32)
    moved = cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]),
                           borderMode=cv2.BORDER_REPLICATE)
    return cv2.imencode(".jpg", moved, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def reencoded(data: bytes, quality: int = 85) -> bytes:
    return cv2.imencode(".jpg", _decoded(data), [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
