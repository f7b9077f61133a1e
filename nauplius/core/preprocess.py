"""Pure image functions: bytes -> decoded image -> the model's CHW float32 input.

Plankton images are small organisms on a plain background, so images are padded to the model's
aspect ratio with their own background colour, never cropped: the whole organism stays in view.

Memory: the decoded image is bounded by the size limits (nauplius.core.image_probe); what is made
from it afterwards is converted a band of rows at a time, or is at most PAD_SCALE**2 times the
model's input (see prepare), so a long thin strip never becomes a huge square.
"""

import os
from collections.abc import Callable

# OpenCV's own decode limit, a backstop should a header understate what the decoder allocates;
# it is read when cv2 is imported, so it is set first. The configured max_pixels comes first.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(1 << 28))

import cv2
import numpy as np

from nauplius.core.contracts.embedder import ModelCard
from nauplius.core.image_probe import (
    DEFAULT_MAX_SIDE,
    NotAnImage,
    OverSizeLimit,
    check_size,
    probe,
    why_undecodable,
)

# The most pixels decode_image accepts by default: the embedder's EMBEDDER_MAX_PIXELS and the
# trainer's limit.
DEFAULT_MAX_PIXELS = 50_000_000

# Pixels converted at a time where a whole-image conversion would need float copies of it.
_BAND_PIXELS = 1 << 20
# Images up to this many times the model's input are padded as they are (the vectors of every
# image this size are as they always were); larger ones are first shrunk to it.
PAD_SCALE = 8


class ImageRefused(Exception):
    """An image decode_image refuses; the message names the problem for the client."""


class UndecodableImage(ImageRefused):
    """The bytes are empty, truncated or not an image format we read."""


class ImageTooLarge(ImageRefused):
    """The file is over the byte limit, or the image over the pixel or the longest-side limit."""


def decode_image(data: bytes, max_pixels: int, max_side: int = DEFAULT_MAX_SIDE) -> np.ndarray:
    """Decode image bytes to uint8: (h, w) for grey images, (h, w, 3) RGB for colour ones.

    16-bit samples are scaled to 0..255; an alpha channel is composited onto the background.
    Raises UndecodableImage (empty, truncated, not an image) or ImageTooLarge (over max_pixels
    or max_side), the size checked from the header before anything is decoded.
    """
    try:
        info = probe(data, max_pixels, max_side)
        image = _decode(data, info.format == "jpeg")
        if image is None or image.size == 0:
            raise UndecodableImage(why_undecodable(data, info))
        check_size(image.shape[1], image.shape[0], max_pixels, max_side)
    except OverSizeLimit as exc:
        raise ImageTooLarge(str(exc)) from None
    except NotAnImage as exc:
        raise UndecodableImage(str(exc)) from None
    return _to_rgb_or_grey(_to_uint8(image))


def _decode(data: bytes, jpeg: bool) -> np.ndarray | None:
    # JPEG never has alpha, and only the non-UNCHANGED modes apply its EXIF orientation
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if jpeg else cv2.IMREAD_UNCHANGED
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as exc:
        if "pixels" in str(exc).lower() or "too large" in str(exc).lower():
            raise ImageTooLarge("image is over OpenCV's pixel limit") from None
        return None


def _in_bands(image: np.ndarray, convert: Callable[[np.ndarray], np.ndarray],
              channels: int) -> np.ndarray:
    """convert() applied to bands of rows: uint8 (h, w, channels), or (h, w) for channels 0.

    The float temporaries of a conversion then cover one band, never the whole image."""
    height, width = image.shape[:2]
    out = np.empty((height, width, channels) if channels else (height, width), np.uint8)
    rows = max(1, _BAND_PIXELS // width)
    for start in range(0, height, rows):
        out[start:start + rows] = convert(image[start:start + rows])
    return out


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    channels = image.shape[2] if image.ndim == 3 else 0
    return _in_bands(image, _band_to_uint8, channels)


def _band_to_uint8(band: np.ndarray) -> np.ndarray:
    if band.dtype == np.uint16:
        return ((band.astype(np.float32) * (255.0 / 65535.0)) + 0.5).astype(np.uint8)
    if np.issubdtype(band.dtype, np.floating):  # float TIFF: 0..1 by convention
        unit: np.ndarray = np.clip(np.nan_to_num(band), 0.0, 1.0)
        return (unit * 255.0 + 0.5).astype(np.uint8)
    info = np.iinfo(band.dtype)
    scaled = (band.astype(np.float64) - info.min) * (255.0 / (info.max - info.min))
    return (scaled + 0.5).astype(np.uint8)


def _to_rgb_or_grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return image
    if image.shape[2] == 2:  # grey + alpha
        return _composite(image)[:, :, 0]
    if image.shape[2] == 4:
        image = _composite(image)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _composite(image: np.ndarray) -> np.ndarray:
    """Colour channels + alpha (last) blended onto the colour of the opaque border pixels (the
    scene's background), else white."""
    colour = image[:, :, :-1]
    opaque = _border(image[:, :, -1])[:, 0] == 255
    border = _border(colour)
    background = np.median(border[opaque], axis=0) if opaque.any() else np.full(colour.shape[2], 255.0)

    def blend(band: np.ndarray) -> np.ndarray:
        a = band[:, :, -1:].astype(np.float32) / 255.0
        blended: np.ndarray = band[:, :, :-1] * a + background * (1.0 - a) + 0.5
        return blended.astype(np.uint8)

    return _in_bands(image, blend, colour.shape[2])


def _border(image: np.ndarray) -> np.ndarray:
    """The pixels of the outermost rows and columns, one per row of the result."""
    edges = [image[0], image[-1], image[:, 0], image[:, -1]]
    pixels: np.ndarray = np.concatenate([e.reshape(len(e), -1) for e in edges])
    return pixels


def background_colour(image: np.ndarray) -> np.ndarray:
    """Per-channel median of the border pixels: the plain background plankton sit on."""
    median: np.ndarray = np.median(_border(image), axis=0)
    return median


def shrink_within(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Shrunk (never enlarged), aspect ratio kept, to fit height x width; at least 1 px a side."""
    h, w = image.shape[:2]
    if h <= height and w <= width:
        return image
    scale = min(height / h, width / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def pad_to_aspect(image: np.ndarray, height: int, width: int, fill: np.ndarray) -> np.ndarray:
    """Pad (never crop) to the aspect ratio height:width, centred, with the colour `fill`."""
    h, w = image.shape[:2]
    target_w = max(w, round(h * width / height))
    target_h = max(h, round(target_w * height / width))
    target_w = max(target_w, round(target_h * width / height))
    top, left = (target_h - h) // 2, (target_w - w) // 2
    if (target_h, target_w) == (h, w):
        return image
    value = [float(v) for v in np.atleast_1d(fill)]
    return cv2.copyMakeBorder(image, top, target_h - h - top, left, target_w - w - left,
                              cv2.BORDER_CONSTANT, value=value + [0.0] * (4 - len(value)))


def prepare(image: np.ndarray, card: ModelCard) -> np.ndarray:
    """A decoded image -> the model's input (channels, height, width) float32, normalised.

    Padded to the model's aspect ratio, then resized. An image over PAD_SCALE times the model's
    input is first shrunk to that, so the padded image is never larger than PAD_SCALE**2 model
    inputs, whatever the aspect ratio (a 1 x 60,000 strip is never padded to 60,000 x 60,000)."""
    height, width = card.input_size
    if card.colour_mode == "grey" and image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    fill = background_colour(image)
    small = shrink_within(image, PAD_SCALE * height, PAD_SCALE * width)
    padded = pad_to_aspect(small, height, width, fill)
    shrinking = padded.shape[0] > height
    resized = cv2.resize(padded, (width, height),
                         interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if resized.ndim == 2:
        resized = resized[:, :, None]
    if resized.shape[2] != card.channels:  # grey into a 3-channel model, or rgb into a 1-channel
        resized = (np.repeat(resized, card.channels, axis=2) if resized.shape[2] == 1
                   else cv2.cvtColor(resized, cv2.COLOR_RGB2GRAY)[:, :, None])
    mean = np.asarray(card.mean, np.float32)
    std = np.asarray(card.std, np.float32)
    x = (resized.astype(np.float32) / 255.0 - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))
