"""Validate uploaded bytes as an image and make its thumbnail (blocking: run in a thread).

The format comes from the magic bytes and the size from the file header, so an image over
the pixel limit is refused before any pixel is decoded.
"""

import struct

import cv2
import numpy as np

from services.catalog.errors import ImageTooLarge, UndecodableImage

MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "tiff": "image/tiff", "bmp": "image/bmp"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "tiff": "tif", "bmp": "bmp"}

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD9)}


def sniff_format(data: bytes) -> str:
    if not data:
        raise UndecodableImage("empty file (zero bytes)")
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if data.startswith(b"BM"):
        return "bmp"
    raise UndecodableImage("not an image: unrecognised format (expected JPEG, PNG, TIFF or BMP)")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i, size = 2, None
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise UndecodableImage("corrupt JPEG: bad marker structure")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _JPEG_SOF and i + 9 <= len(data):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            size = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data follows, ended by EOI
            if size is None:
                raise UndecodableImage("corrupt JPEG: no frame header before the scan")
            # FF D9 cannot occur inside entropy-coded data (FF is stuffed there).
            if data.rfind(b"\xff\xd9") < i:
                raise UndecodableImage("truncated JPEG: no end-of-image marker")
            return size
        i += 2 + length
    raise UndecodableImage("truncated JPEG: file ends before the image data")


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise UndecodableImage("corrupt PNG: no IHDR header")
    if data.rfind(b"IEND") < 33:
        raise UndecodableImage("truncated PNG: no IEND chunk")
    return struct.unpack(">II", data[16:24])


def _bmp_size(data: bytes) -> tuple[int, int]:
    if len(data) < 26:
        raise UndecodableImage("truncated BMP: header incomplete")
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)


def _tiff_size(data: bytes) -> tuple[int, int]:
    order = "<" if data[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack(order + "I", data[4:8])
        (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
        tags = {}
        for n in range(count):
            start = ifd + 2 + 12 * n
            tag, kind, _, value = struct.unpack(order + "HHI4s", data[start : start + 12])
            if tag in (256, 257):
                fmt = order + ("H" if kind == 3 else "I")
                tags[tag] = struct.unpack(fmt, value[: struct.calcsize(fmt)])[0]
    except struct.error:
        raise UndecodableImage("truncated TIFF: directory incomplete") from None
    if 256 not in tags or 257 not in tags:
        raise UndecodableImage("corrupt TIFF: no image width/length tags")
    return tags[256], tags[257]


_HEADER_SIZE = {"jpeg": _jpeg_size, "png": _png_size, "bmp": _bmp_size, "tiff": _tiff_size}


def decode_image(data: bytes, max_pixels: int) -> tuple[str, np.ndarray]:
    """(format, pixels as decoded by opencv, channels and bit depth unchanged)."""
    image_format = sniff_format(data)
    width, height = _HEADER_SIZE[image_format](data)
    if width <= 0 or height <= 0:
        raise UndecodableImage(f"corrupt {image_format.upper()}: size {width}x{height}")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image is {width}x{height} pixels, over the limit of {max_pixels} pixels"
        )
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        pixels = None
    if pixels is None:
        raise UndecodableImage(f"corrupt {image_format.upper()}: opencv could not decode it")
    if pixels.shape[:2] != (height, width):
        raise UndecodableImage(
            f"corrupt {image_format.upper()}: pixel data does not match the header size"
        )
    return image_format, pixels


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    # 16-bit and float images often use a fraction of their range: stretch for display.
    return cv2.normalize(pixels.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX, dtype=cv2.CV_8U)


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
    flat = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
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
