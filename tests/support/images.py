"""Crafted image bytes: headers that lie about their size (decompression bombs)."""

import struct
import zlib


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
