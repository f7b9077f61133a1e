"""Validation of uploaded bytes and thumbnails, on real ZooLake images."""

import tracemalloc

import cv2
import numpy as np
import pytest

from nauplius.core.image_probe import DEFAULT_MAX_SIDE
from services.catalog.decoding import (
    OWN_THUMBNAIL_MAX_BYTES,
    decode_image,
    is_own_thumbnail,
    make_thumbnail,
)
from services.catalog.errors import ImageTooLarge, UndecodableImage
from tests.support.images import png_header_claiming


def _encode(pixels: np.ndarray, ext: str) -> bytes:
    ok, encoded = cv2.imencode(ext, pixels)
    assert ok
    return encoded.tobytes()


@pytest.fixture
def plankton(zoolake) -> np.ndarray:
    pixels = cv2.imdecode(np.frombuffer(zoolake[0].data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert pixels is not None
    return pixels


@pytest.mark.parametrize(
    ("ext", "expected"), [(".png", "png"), (".tiff", "tiff"), (".bmp", "bmp"), (".jpg", "jpeg")]
)
def test_format_and_size_come_from_the_bytes(plankton, ext, expected):
    data = _encode(plankton, ext)
    image_format, pixels = decode_image(data, max_pixels=10**8)
    assert image_format == expected
    assert pixels.shape[:2] == plankton.shape[:2]


def test_real_jpeg_keeps_its_size(zoolake):
    for sample in zoolake:
        reference = cv2.imread(str(sample.path), cv2.IMREAD_UNCHANGED)
        image_format, pixels = decode_image(sample.data, max_pixels=10**8)
        assert (image_format, pixels.shape) == ("jpeg", reference.shape)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated_jpeg_is_refused(zoolake, fraction):
    data = zoolake[1].data
    with pytest.raises(UndecodableImage, match="truncated|corrupt"):
        decode_image(data[: int(len(data) * fraction)], max_pixels=10**8)


def test_truncated_png_is_refused(plankton):
    data = _encode(plankton, ".png")
    with pytest.raises(UndecodableImage, match="PNG"):
        decode_image(data[: len(data) // 2], max_pixels=10**8)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "zero bytes"),
        (b"plankton,count\ndaphnia,3\n", "not an image"),
        (b"\xff\xd8\xff", "JPEG"),
    ],
)
def test_non_images_are_named(data, problem):
    with pytest.raises(UndecodableImage, match=problem):
        decode_image(data, max_pixels=10**8)


def test_pixel_limit_is_checked_from_the_header(plankton):
    height, width = plankton.shape[:2]
    with pytest.raises(ImageTooLarge, match=f"{width}x{height}"):
        decode_image(_encode(plankton, ".png"), max_pixels=width * height - 1)
    assert decode_image(_encode(plankton, ".png"), max_pixels=width * height)[0] == "png"


def _decoded_thumbnail(data: bytes) -> np.ndarray:
    thumbnail = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert thumbnail is not None
    return thumbnail


def test_thumbnail_of_large_16bit_alpha_image(plankton):
    big = cv2.resize(plankton, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    deep = big.astype(np.uint16) * 16  # 12-bit data in a 16-bit container
    alpha = np.full(deep.shape[:2] + (1,), 65535, np.uint16)
    alpha[:, : deep.shape[1] // 2] = 0  # left half fully transparent
    bgra = np.concatenate([deep, alpha], axis=2)
    image_format, pixels = decode_image(_encode(bgra, ".png"), max_pixels=10**8)
    assert image_format == "png" and pixels.dtype == np.uint16 and pixels.shape[2] == 4

    thumbnail = _decoded_thumbnail(make_thumbnail(pixels, 128))
    assert max(thumbnail.shape[:2]) == 128
    assert thumbnail.dtype == np.uint8 and thumbnail.shape[2] == 3
    height, width = thumbnail.shape[:2]
    assert thumbnail[:, : width // 2 - 2].min() >= 250  # transparent -> white
    assert thumbnail[:, width // 2 + 2 :].std() > 5  # the plankton is still there


def test_thumbnail_of_grey_image_is_never_enlarged(plankton):
    grey = cv2.cvtColor(plankton, cv2.COLOR_BGR2GRAY)
    thumbnail = _decoded_thumbnail(make_thumbnail(grey, 128))
    assert thumbnail.shape == grey.shape


def test_a_small_jpeg_is_its_own_thumbnail_and_nothing_else_is(zoolake, plankton):
    small, large = zoolake[0].data, zoolake[1].data  # 84 x 64 and 156 x 152 px JPEGs
    assert is_own_thumbnail(*decode_image(small, 10**8), len(small), 128)
    assert not is_own_thumbnail(*decode_image(large, 10**8), len(large), 128)
    assert not is_own_thumbnail(*decode_image(small, 10**8), len(small), 32)  # over that size
    png = _encode(plankton, ".png")
    assert not is_own_thumbnail(*decode_image(png, 10**8), len(png), 128)
    # a small picture in a large file (metadata): the thumbnail is made, small in bytes
    assert not is_own_thumbnail(*decode_image(small, 10**8), OWN_THUMBNAIL_MAX_BYTES + 1, 128)
    wide = cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_UNCHANGED).astype(np.uint16)
    assert not is_own_thumbnail("jpeg", wide, len(small), 128)  # not 8-bit


@pytest.mark.parametrize(("width", "height"), [(1, 60_000), (60_000, 1)])
def test_a_side_over_the_limit_is_refused_from_the_header(width, height):
    # Four rows of pixel data behind the header: decoding would have said "truncated".
    with pytest.raises(ImageTooLarge, match=f"{width}x{height} pixels: its longest side is over "
                                            f"the limit of {DEFAULT_MAX_SIDE} pixels"):
        decode_image(png_header_claiming(width, height), max_pixels=10**8)
    with pytest.raises(ImageTooLarge, match="longest side is over the limit of 5000 pixels"):
        decode_image(png_header_claiming(width, height), max_pixels=10**8, max_side=5_000)


def test_a_thumbnail_is_made_without_a_copy_of_the_full_image(plankton):
    # A 16-bit image with alpha, 3,000 x 2,000: 48 MB decoded; shrunk first, nothing near that
    # is made again (flattening it whole took float copies of several times its size).
    big = cv2.resize(plankton, (3_000, 2_000), interpolation=cv2.INTER_LINEAR).astype(np.uint16)
    pixels = np.dstack([big * 200, np.full(big.shape[:2], 65535, np.uint16)])
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    try:
        thumbnail = _decoded_thumbnail(make_thumbnail(pixels, 128))
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert max(thumbnail.shape[:2]) == 128 and thumbnail.shape[2] == 3
    assert peak < pixels.nbytes // 8, f"{peak} bytes for a {pixels.nbytes}-byte image"
