"""Crafted image bytes: headers that lie about their size (decompression bombs), long thin
strips, and an OpenCV fault on one image's pixels."""

import struct
import zlib
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_claiming(width: int, height: int) -> bytes:
    """A well-formed grey PNG of a few hundred bytes whose header claims width x height."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(bytes(width + 1) * 4)  # four rows of a far larger image
    chunks = _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def tiff_header_claiming(width: int, height: int) -> bytes:
    """A little-endian grey TIFF whose directory claims width x height over one 16-byte strip."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 4, 8), (277, 3, 1), (278, 4, height), (279, 4, 16)]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:  # kind 3 SHORT, 4 LONG; a SHORT sits left in its 4 bytes
        ifd += struct.pack("<HHI", tag, kind, 1) + struct.pack("<I" if kind == 4 else "<Hxx", value)
    return b"II*\x00" + struct.pack("<I", 24) + bytes(16) + ifd + struct.pack("<I", 0)


def strip_png(shape: tuple[int, ...]) -> bytes:
    """A real PNG of a long thin strip (say 1 x 60,000 px, a few hundred bytes): a light
    background with a dark organism in its middle tenth."""
    pixels = np.full(shape, 230, np.uint8)
    middle = max(shape[:2]) // 2
    if shape[0] == 1:
        pixels[:, middle - max(shape[:2]) // 20:middle + max(shape[:2]) // 20] = 40
    else:
        pixels[middle - shape[0] // 20:middle + shape[0] // 20] = 40
    ok, data = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    return data.tobytes()


def resize_failing_on(shape: tuple[int, int]) -> Callable[..., np.ndarray]:
    """cv2.resize, except that it raises as OpenCV does when it cannot allocate for an image of
    `shape` (height, width): the one fault of one file's pixels that no real file causes."""
    resize = cv2.resize

    def faulty(src: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
        if src.shape[:2] == shape:
            raise cv2.error("OpenCV(5.0.0) resize.cpp:4158: error: (-4:Insufficient memory) "
                            "Failed to allocate 129600000000 bytes in function 'OutOfMemoryError'")
        resized: np.ndarray = resize(src, *args, **kwargs)
        return resized

    return faulty
