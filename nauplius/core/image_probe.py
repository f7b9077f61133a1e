"""Read an image's format and size from its header with Pillow, before any pixel is decoded.

Both the embedder and the catalog call this first, so a decompression bomb (a small file claiming
huge dimensions, or a long thin strip of a few hundred bytes) is refused before a pixel is
allocated; opencv decodes the pixels afterwards. The geometry checked is the number of pixels and
the longest side. Channels and frames need no limit of their own: opencv's imdecode decodes the
first frame of a multi-page file alone, and at most four channels (it refuses TIFFs with more).

The longest side's default, DEFAULT_MAX_SIDE (10,000 px), fits every specimen image an instrument
makes: IFCB ROIs are a few hundred px, FlowCam and ZooScan vignettes a few thousand (a 4 cm
organism scanned at 2,400 dpi is about 3,800 px); a whole ZooScan frame is over max_pixels anyway.

Pillow's own bomb check (a DecompressionBombWarning past Image.MAX_IMAGE_PIXELS, an error at twice
that) lives in Image.open and reads a process-wide setting. We apply the caller's limit instead, so
the header is read by the format's plugin class directly, which skips that check and leaves
Pillow's global settings untouched.
"""

import io
from dataclasses import dataclass

from PIL import BmpImagePlugin, Image, ImageFile, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

# The formats the system accepts, each with the Pillow plugin that reads its header.
_PLUGINS: dict[str, type[ImageFile.ImageFile]] = {
    "jpeg": JpegImagePlugin.JpegImageFile,
    "png": PngImagePlugin.PngImageFile,
    "tiff": TiffImagePlugin.TiffImageFile,
    "bmp": BmpImagePlugin.BmpImageFile,
}


class ImageProbeError(ValueError):
    """The message names the problem for the client."""


class NotAnImage(ImageProbeError):
    """Empty, not one of the accepted formats, or a broken or truncated file."""


class OverSizeLimit(ImageProbeError):
    """The image's geometry is over one of the configured limits."""


class TooManyPixels(OverSizeLimit):
    def __init__(self, width: int, height: int, max_pixels: int) -> None:
        super().__init__(f"image is {width}x{height} pixels, over the limit of {max_pixels} pixels")
        self.width, self.height, self.max_pixels = width, height, max_pixels


class SideTooLong(OverSizeLimit):
    def __init__(self, width: int, height: int, max_side: int) -> None:
        super().__init__(f"image is {width}x{height} pixels: its longest side is over the limit "
                         f"of {max_side} pixels")
        self.width, self.height, self.max_side = width, height, max_side


DEFAULT_MAX_SIDE = 10_000


@dataclass(frozen=True)
class ImageInfo:
    format: str  # one of "jpeg", "png", "tiff", "bmp"
    width: int
    height: int


def probe(data: bytes, max_pixels: int, max_side: int = DEFAULT_MAX_SIDE) -> ImageInfo:
    """Format and size from the header; NotAnImage or OverSizeLimit if it must be refused."""
    if not data:
        raise NotAnImage("empty file (zero bytes)")
    image_format = _format_of(data)
    try:
        with _PLUGINS[image_format](io.BytesIO(data)) as image:
            width, height = image.size
    # Plugins report a broken header as SyntaxError, OSError, struct.error and others, and
    # some damage (a TIFF directory cut short) as a warning, raised where warnings are errors.
    except (Exception, Warning) as exc:
        raise NotAnImage(f"corrupt {image_format.upper()}: {exc}") from None
    if width <= 0 or height <= 0:
        raise NotAnImage(f"corrupt {image_format.upper()}: size {width}x{height}")
    check_size(width, height, max_pixels, max_side)
    return ImageInfo(image_format, width, height)


def check_size(width: int, height: int, max_pixels: int, max_side: int = DEFAULT_MAX_SIDE) -> None:
    """TooManyPixels or SideTooLong when the image is over either limit."""
    if width * height > max_pixels:
        raise TooManyPixels(width, height, max_pixels)
    if max(width, height) > max_side:
        raise SideTooLong(width, height, max_side)


def why_undecodable(data: bytes, info: ImageInfo) -> str:
    """Name the problem with bytes whose header was fine but whose pixels opencv refused.

    Pillow decodes them to find out, which is safe because probe() has checked the size.
    """
    name = info.format.upper()
    try:
        with _PLUGINS[info.format](io.BytesIO(data)) as image:
            image.load()
    except (Exception, Warning) as exc:
        problem = "truncated" if "truncated" in str(exc) else "corrupt"
        return f"{problem} {name}: {exc}"
    return f"corrupt {name}: opencv could not decode it"


def _format_of(data: bytes) -> str:
    prefix = data[:16]
    for image_format, plugin in _PLUGINS.items():
        accept = Image.OPEN[plugin.format][1] if plugin.format else None  # its magic-bytes test
        if accept is not None and accept(prefix) is True:
            return image_format
    raise NotAnImage("not an image: unrecognised format (expected JPEG, PNG, TIFF or BMP)")
