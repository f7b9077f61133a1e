"""Validate uploaded bytes as an image and make its thumbnail (blocking: run in a thread).

Format and size come from the header (services.image_probe), so an image over the pixel limit
is refused before any pixel is decoded; opencv then decodes the pixels.
"""

import cv2
import numpy as np

from services.catalog.errors import ImageTooLarge, UndecodableImage
from services.image_probe import NotAnImage, TooManyPixels, probe, why_undecodable

MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "tiff": "image/tiff", "bmp": "image/bmp"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "tiff": "tif", "bmp": "bmp"}


def decode_image(data: bytes, max_pixels: int) -> tuple[str, np.ndarray]:
    """(format, pixels as decoded by opencv, channels and bit depth unchanged)."""
    try:
        info = probe(data, max_pixels)
    except TooManyPixels as exc:
        raise ImageTooLarge(str(exc)) from None
    except NotAnImage as exc:
        raise UndecodableImage(str(exc)) from None
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        pixels = None
    if pixels is None:
        raise UndecodableImage(why_undecodable(data, info))
    if pixels.shape[:2] != (info.height, info.width):
        raise UndecodableImage(
            f"corrupt {info.format.upper()}: pixel data does not match the header size"
        )
    return info.format, pixels


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    # 16-bit and float images often use a fraction of their range: stretch for display.
    stretched = np.empty(pixels.shape, dtype=np.uint8)
    cv2.normalize(pixels.astype(np.float32), stretched, 0, 255, cv2.NORM_MINMAX, dtype=cv2.CV_8U)
    return stretched


def _alpha_scale(dtype: np.dtype) -> float:
    return float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0


def _flatten_alpha(pixels: np.ndarray) -> np.ndarray:
    """Grey or BGR 8-bit pixels; an alpha channel is composited over white."""
    if pixels.ndim == 2:
        return _to_uint8(pixels)
    channels = pixels.shape[2]
    if channels in (1, 3):
        return _to_uint8(pixels if channels == 3 else pixels[:, :, 0])
    colour = _to_uint8(pixels[:, :, :-1] if channels == 4 else pixels[:, :, :1])
    alpha = pixels[:, :, -1:].astype(np.float32) / _alpha_scale(pixels.dtype)
    blended = colour.astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    flat: np.ndarray = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return flat[:, :, 0] if flat.shape[2] == 1 else flat


def make_thumbnail(pixels: np.ndarray, size: int) -> bytes:
    """JPEG bytes of the image, longest side at most `size` (never enlarged)."""
    flat = _flatten_alpha(pixels)
    height, width = flat.shape[:2]
    scale = size / max(height, width)
    if scale < 1:
        target = (max(1, round(width * scale)), max(1, round(height * scale)))
        flat = cv2.resize(flat, target, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", flat, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise UndecodableImage("could not encode a thumbnail of this image")
    return encoded.tobytes()
