import cv2
import numpy as np
import pytest

from nauplius.core.contracts.embedder import ModelCard
from nauplius.core.image_probe import DEFAULT_MAX_SIDE
from nauplius.core.preprocess import (
    PAD_SCALE,
    ImageTooLarge,
    UndecodableImage,
    background_colour,
    decode_image,
    pad_to_aspect,
    prepare,
)
from tests.support.data import SHARED_DATA, first_images
from tests.support.embedder import bgr, encode
from tests.support.images import png_header_claiming

LIMIT = 50_000_000


def test_colour_jpeg_decodes_to_rgb(zoolake_jpeg):
    image = decode_image(zoolake_jpeg.read_bytes(), LIMIT)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    np.testing.assert_array_equal(image, cv2.cvtColor(bgr(zoolake_jpeg), cv2.COLOR_BGR2RGB))


def test_grey_ifcb_png_decodes_to_one_channel():
    path = first_images("ifcb/labelled/Mesodinium_major", pattern="*.png")[0]
    image = decode_image(path.read_bytes(), LIMIT)
    assert image.ndim == 2 and image.dtype == np.uint8
    assert image.shape == cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).shape


@pytest.mark.parametrize("ext", [".png", ".tiff", ".bmp", ".jpg"])
def test_formats_decode_to_the_same_pixels(zoolake_jpeg, ext):
    original = bgr(zoolake_jpeg)
    image = decode_image(encode(ext, original), LIMIT)
    expected = cv2.cvtColor(original, cv2.COLOR_BGR2RGB)
    tolerance = 8 if ext == ".jpg" else 0  # re-encoding as JPEG is lossy
    assert image.shape == expected.shape
    assert np.abs(image.astype(int) - expected).max() <= tolerance


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_16_bit_images_scale_to_8_bit(zoolake_jpeg, ext):
    original = bgr(zoolake_jpeg)
    deep = original.astype(np.uint16) * 257  # 255 -> 65535
    image = decode_image(encode(ext, deep), LIMIT)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, cv2.cvtColor(original, cv2.COLOR_BGR2RGB))
    grey = decode_image(encode(ext, deep[:, :, 0]), LIMIT)
    np.testing.assert_array_equal(grey, original[:, :, 0])


def test_alpha_composites_onto_the_background(zoolake_jpeg):
    original = bgr(zoolake_jpeg)
    bgra = cv2.cvtColor(original, cv2.COLOR_BGR2BGRA)
    bgra[:, :6] = (0, 0, 255, 0)  # a transparent band of pure red on the left
    image = decode_image(encode(".png", bgra), LIMIT)
    rgb = cv2.cvtColor(original, cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(image[:, 6:], rgb[:, 6:])
    band = image[:, :6].reshape(-1, 3).astype(int)
    opaque_border = np.concatenate([rgb[0, 6:], rgb[-1, 6:], rgb[:, -1]])
    assert np.abs(band - np.median(opaque_border, axis=0)).max() <= 1
    assert band[:, 0].mean() < 200  # no red left from the hidden pixels


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"this is not an image at all", "not an image"),
])
def test_bad_bytes_are_refused(data, reason):
    with pytest.raises(UndecodableImage, match=reason):
        decode_image(data, LIMIT)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".tiff", ".bmp"])
def test_truncated_files_are_refused(zoolake_jpeg, ext):
    data = zoolake_jpeg.read_bytes() if ext == ".jpg" else encode(ext, bgr(zoolake_jpeg))
    with pytest.raises(UndecodableImage):
        decode_image(data[: len(data) * 2 // 3], LIMIT)


def test_pixel_bomb_header_is_refused_before_decoding():
    bomb = png_header_claiming(100_000, 100_000)
    with pytest.raises(ImageTooLarge, match="100000x100000"):
        decode_image(bomb, LIMIT)


def test_real_blank_image_over_the_pixel_limit_is_refused():
    data = encode(".png", np.zeros((1000, 1200), np.uint8))
    with pytest.raises(ImageTooLarge, match="over the limit"):
        decode_image(data, 1_000_000)
    assert decode_image(data, 1_200_000).shape == (1000, 1200)


def test_padding_keeps_the_whole_organism_on_its_background():
    path = next(p for p in first_images("ndsb/copepod_cyclopoid_oithona", 20)
                if bgr(p).shape[0] != bgr(p).shape[1])
    image = decode_image(path.read_bytes(), LIMIT)
    fill = background_colour(image)
    padded = pad_to_aspect(image, 224, 224, fill)
    h, w = image.shape[:2]
    side = max(h, w)
    assert padded.shape[:2] == (side, side)
    top, left = (side - h) // 2, (side - w) // 2
    np.testing.assert_array_equal(padded[top:top + h, left:left + w], image)
    fill = np.round(fill).astype(np.uint8)
    margin = padded[:top] if h < w else padded[:, :left]
    assert margin.size and (margin == fill).all()
    assert fill.mean() > 150  # NDSB's background is light


def test_prepare_gives_normalised_chw_float32(embedder, zoolake_jpeg):
    card = embedder.card
    x = prepare(decode_image(zoolake_jpeg.read_bytes(), LIMIT), card)
    assert x.dtype == np.float32 and x.shape == (3, *card.input_size)
    lo = (0 - np.array(card.mean)) / np.array(card.std)
    hi = (1 - np.array(card.mean)) / np.array(card.std)
    assert (x.min(axis=(1, 2)) >= lo - 1e-6).all() and (x.max(axis=(1, 2)) <= hi + 1e-6).all()
    grey = prepare(decode_image(first_images("ifcb/labelled/Strombidium-like", pattern="*.png")[0]
                                .read_bytes(), LIMIT), card)
    assert grey.shape == x.shape
    np.testing.assert_array_equal(grey[0], grey[1])


def test_data_folder_is_there():
    assert (SHARED_DATA / "zoolake" / "manifest.csv").is_file()


def test_a_header_claiming_a_side_over_the_limit_is_refused_before_decoding():
    # Four rows of pixel data behind a header claiming 60,000: decoding would say "truncated".
    for width, height in [(1, 60_000), (60_000, 1)]:
        with pytest.raises(ImageTooLarge, match=f"{width}x{height} pixels: its longest side is "
                                                f"over the limit of {DEFAULT_MAX_SIDE} pixels"):
            decode_image(png_header_claiming(width, height), LIMIT)


def _padded_whole_then_resized(image: np.ndarray, card: ModelCard) -> np.ndarray:
    """prepare() as it was before it bounded its memory: the whole image padded, then resized."""
    height, width = card.input_size
    padded = pad_to_aspect(image, height, width, background_colour(image))
    interpolation = cv2.INTER_AREA if padded.shape[0] > height else cv2.INTER_LINEAR
    resized = cv2.resize(padded, (width, height), interpolation=interpolation)
    if resized.ndim == 2:
        resized = np.repeat(resized[:, :, None], card.channels, axis=2)
    mean, std = np.asarray(card.mean, np.float32), np.asarray(card.std, np.float32)
    x = (resized.astype(np.float32) / 255.0 - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def test_real_images_are_prepared_exactly_as_before(embedder):
    # Every image up to PAD_SCALE times the model's input: the vectors indexed before still hold.
    paths = (first_images("zoolake/daphnia", 8) + first_images("ndsb/copepod_cyclopoid_oithona", 8)
             + first_images("ifcb/labelled/Mesodinium_major", 8, pattern="*.png"))
    for path in paths:
        image = decode_image(path.read_bytes(), LIMIT)
        np.testing.assert_array_equal(prepare(image, embedder.card),
                                      _padded_whole_then_resized(image, embedder.card))


def test_a_large_image_shrunk_first_embeds_as_if_padded_whole(embedder, zoolake_jpeg):
    # Over PAD_SCALE times the input, the image is shrunk before padding: the same organism.
    side = PAD_SCALE * embedder.card.input_size[0]
    image = decode_image(zoolake_jpeg.read_bytes(), LIMIT)
    scale = 1.5 * side / max(image.shape[:2])
    large = cv2.resize(image, None, fx=scale, fy=scale / 2, interpolation=cv2.INTER_CUBIC)
    assert max(large.shape[:2]) > side
    vectors = embedder.embed_prepared(np.stack([prepare(large, embedder.card),
                                                _padded_whole_then_resized(large, embedder.card)]))
    assert float(vectors[0] @ vectors[1]) > 0.999
