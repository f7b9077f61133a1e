"""Header probing on real plankton files and on crafted bombs, broken and non-image bytes."""

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from nauplius.core.image_probe import (
    DEFAULT_MAX_SIDE,
    ImageInfo,
    NotAnImage,
    SideTooLong,
    TooManyPixels,
    probe,
    why_undecodable,
)
from tests.support.data import SHARED_DATA
from tests.support.images import png_header_claiming, tiff_header_claiming

LIMIT = 50_000_000


def _encode(ext: str, pixels: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(ext, pixels)
    assert ok
    return encoded.tobytes()


def _real(folder: str, pattern: str, count: int) -> list[Path]:
    paths = sorted((SHARED_DATA / folder).glob(pattern))[:count]
    assert len(paths) == count, f"expected {count} files in {SHARED_DATA / folder}"
    return paths


@pytest.fixture(scope="module")
def daphnia() -> bytes:
    return _real("zoolake/daphnia", "*.jp*g", 1)[0].read_bytes()


@pytest.mark.parametrize(("folder", "pattern", "image_format"), [
    ("zoolake/daphnia", "*.jp*g", "jpeg"),
    ("ndsb/amphipods", "*.jp*g", "jpeg"),
    ("ifcb/reference_png", "**/*.png", "png"),
])
def test_real_files_give_the_size_opencv_decodes(folder, pattern, image_format):
    for path in _real(folder, pattern, 3):
        data = path.read_bytes()
        height, width = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED).shape[:2]
        assert probe(data, LIMIT) == ImageInfo(image_format, width, height)


@pytest.mark.parametrize(("ext", "image_format"),
                         [(".png", "png"), (".tiff", "tiff"), (".bmp", "bmp"), (".jpg", "jpeg")])
def test_each_accepted_format_is_named_with_its_size(daphnia, ext, image_format):
    pixels = cv2.imdecode(np.frombuffer(daphnia, np.uint8), cv2.IMREAD_COLOR)
    tall = np.ascontiguousarray(pixels[:, : pixels.shape[1] // 2])  # width != height
    height, width = tall.shape[:2]
    assert probe(_encode(ext, tall), LIMIT) == ImageInfo(image_format, width, height)
    with pytest.raises(TooManyPixels, match=f"{width}x{height} pixels, over the limit of 99 "):
        probe(_encode(ext, tall), max_pixels=99)
    assert probe(_encode(ext, tall), max_pixels=width * height).width == width


def _bmp_claiming(daphnia: bytes, width: int, height: int) -> bytes:
    decoded = cv2.imdecode(np.frombuffer(daphnia, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    corner = decoded[:16, :16]
    bmp = bytearray(_encode(".bmp", np.ascontiguousarray(corner)))
    bmp[18:26] = struct.pack("<ii", width, -height)  # negative height: rows stored top-down
    return bytes(bmp)


def _jpeg_claiming(daphnia: bytes, width: int, height: int) -> bytes:
    jpeg = bytearray(daphnia)
    sof = next(i for i in range(2, len(jpeg) - 1)
               if jpeg[i] == 0xFF and jpeg[i + 1] in (0xC0, 0xC1, 0xC2))
    jpeg[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(jpeg)


@pytest.mark.parametrize("craft", [
    lambda daphnia, w, h: png_header_claiming(w, h),
    lambda daphnia, w, h: tiff_header_claiming(w, h),
    _bmp_claiming,
    _jpeg_claiming,
], ids=["png", "tiff", "bmp", "jpeg"])
def test_bombs_are_refused_from_the_header_alone(daphnia, craft):
    bomb = craft(daphnia, 60_000, 50_000)
    assert len(bomb) < 100_000  # 3 gigapixels claimed by a small file
    with pytest.raises(TooManyPixels, match="60000x50000 pixels, over the limit of 50000000"):
        probe(bomb, LIMIT)


def test_a_png_claiming_100000_squared_is_refused_without_pillows_own_check():
    # Pillow's own check would raise DecompressionBombError here: ours names the size instead
    with pytest.raises(TooManyPixels) as refused:
        probe(png_header_claiming(100_000, 100_000), LIMIT)
    assert (refused.value.width, refused.value.height) == (100_000, 100_000)
    assert probe(png_header_claiming(100_000, 100_000), 10**10, max_side=100_000).width == 100_000


@pytest.mark.parametrize(("craft", "image_format"),
                         [(png_header_claiming, "png"), (tiff_header_claiming, "tiff")])
@pytest.mark.parametrize(("width", "height"), [(1, 60_000), (60_000, 1)])
def test_a_strip_over_the_longest_side_is_refused_from_its_header(craft, image_format, width,
                                                                   height):
    # Under the pixel limit, but padded to a square it would be 3.6 gigapixels.
    strip = craft(width, height)
    assert len(strip) < 1_000
    with pytest.raises(SideTooLong, match=f"image is {width}x{height} pixels: its longest side "
                                          f"is over the limit of {DEFAULT_MAX_SIDE} pixels"):
        probe(strip, LIMIT)
    assert probe(strip, LIMIT, max_side=60_000) == ImageInfo(image_format, width, height)


def test_the_longest_side_limit_admits_real_instrument_vignettes():
    # A ZooScan vignette of a 4 cm organism at 2,400 dpi is about 3,800 px; a FlowCam frame 1,920.
    assert DEFAULT_MAX_SIDE >= 2 * 3_800
    assert probe(png_header_claiming(DEFAULT_MAX_SIDE, 400), LIMIT).width == DEFAULT_MAX_SIDE


@pytest.mark.parametrize(("data", "problem"), [
    (b"", r"empty file \(zero bytes\)"),
    (b"taxon,count\ndaphnia,12\n", "not an image: unrecognised format"),
    (b"GIF89a\x10\x00\x10\x00", "not an image: unrecognised format"),
    (b"\xff\xd8\xff", "corrupt JPEG"),
    (b"\x89PNG\r\n\x1a\n", "corrupt PNG"),
    (b"BM" + bytes(10), "corrupt BMP"),
])
def test_non_images_and_broken_headers_are_named(data, problem):
    with pytest.raises(NotAnImage, match=problem):
        probe(data, LIMIT)


def test_a_tiff_cut_before_its_directory_is_refused(daphnia):
    tiff = _encode(".tiff", cv2.imdecode(np.frombuffer(daphnia, np.uint8), cv2.IMREAD_COLOR))
    with pytest.raises(NotAnImage, match="corrupt TIFF"):
        probe(tiff[: len(tiff) * 2 // 3], LIMIT)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp"])
def test_truncation_is_named_once_the_header_passed(daphnia, ext):
    pixels = cv2.imdecode(np.frombuffer(daphnia, np.uint8), cv2.IMREAD_COLOR)
    data = daphnia if ext == ".jpg" else _encode(ext, pixels)
    cut = data[: len(data) * 2 // 3]
    info = probe(cut, LIMIT)  # the header survives the cut
    assert cv2.imdecode(np.frombuffer(cut, np.uint8), cv2.IMREAD_UNCHANGED) is None
    assert why_undecodable(cut, info).startswith(f"truncated {info.format.upper()}: ")
    whole = why_undecodable(data, info)  # Pillow decodes it: only opencv could have refused
    assert whole == f"corrupt {info.format.upper()}: opencv could not decode it"
