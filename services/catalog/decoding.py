"""Validate uploaded bytes as an image and make its thumbnail (blocking: run in a thread).

Format and size come from the header (nauplius.core.image_probe), so an image over the pixel or the
longest-side limit is refused before any pixel is decoded; opencv then decodes the pixels. The
thumbnail is made from the image shrunk first, so no copy of the full image is made on the way.
Whatever opencv raises on the way is the file's refusal (UndecodableImage), never a 500.
"""

import cv2
import numpy as np

from nauplius.core.image_probe import (
    DEFAULT_MAX_SIDE,
    NotAnImage,
    OverSizeLimit,
    probe,
    why_undecodable,
)
from services.catalog.errors import ImageTooLarge, UndecodableImage

MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "tiff": "image/tiff", "bmp": "image/bmp"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "tiff": "tif", "bmp": "bmp"}


def decode_image(
    data: bytes, max_pixels: int, max_side: int = DEFAULT_MAX_SIDE
) -> tuple[str, np.ndarray]:
    """(format, pixels as decoded by opencv, channels and bit depth unchanged)."""
    try:
        info = probe(data, max_pixels, max_side)
    except OverSizeLimit as exc:
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


# Depths cv2.resize interpolates; others (32-bit integers) are shrunk as float32.
_RESIZABLE = (np.uint8, np.uint16, np.int16, np.float32, np.float64)


def _shrunk(pixels: np.ndarray, size: int) -> np.ndarray:
    """Longest side at most `size` (never enlarged), channels and depth as they were."""
    height, width = pixels.shape[:2]
    scale = size / max(height, width)
    if scale >= 1:
        return pixels
    if pixels.dtype not in _RESIZABLE:
        pixels = pixels.astype(np.float32)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    shrunk: np.ndarray = cv2.resize(pixels, target, interpolation=cv2.INTER_AREA)
    return shrunk if shrunk.ndim == pixels.ndim else shrunk[:, :, None]


# An image up to this many bytes may be its own thumbnail (see is_own_thumbnail).
OWN_THUMBNAIL_MAX_BYTES = 64 * 1024


def is_own_thumbnail(image_format: str, pixels: np.ndarray, size_bytes: int, size: int) -> bool:
    """Whether the uploaded file can serve as its thumbnail as it is: an 8-bit grey or colour
    JPEG no larger than the thumbnail, and small in bytes (no large embedded metadata). Most
    plankton images are (NDSB's and ZooLake's crops are tens of pixels a side): re-encoding
    them would only lose quality, and cost an encode and a file write per image."""
    return (image_format == "jpeg" and pixels.dtype == np.uint8
            and (pixels.ndim == 2 or pixels.shape[2] in (1, 3))
            and max(pixels.shape[:2]) <= size and size_bytes <= OWN_THUMBNAIL_MAX_BYTES)


def make_thumbnail(pixels: np.ndarray, size: int) -> bytes:
    """JPEG bytes of the image, longest side at most `size` (never enlarged)."""
    try:
        flat = _flatten_alpha(_shrunk(pixels, size))
        ok, encoded = cv2.imencode(".jpg", flat, [cv2.IMWRITE_JPEG_QUALITY, 85])
    except cv2.error as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        raise UndecodableImage(f"could not make a thumbnail of this image ({first_line})") from None
    if not ok:
        raise UndecodableImage("could not encode a thumbnail of this image")
    return encoded.tobytes()
