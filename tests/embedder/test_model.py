import cv2
import numpy as np
import pytest

from nauplius.core.preprocess import decode_image
from services.embedder.errors import ModelCardError
from services.embedder.model import Embedder
from tests.support.data import first_images
from tests.support.embedder import MODEL

LIMIT = 50_000_000


def decoded(paths):
    return [decode_image(p.read_bytes(), LIMIT) for p in paths]


def test_vectors_are_unit_float32_of_the_card_dim(embedder):
    images = decoded(first_images("zoolake/keratella_quadrata", 3))
    images += decoded(first_images("ifcb/labelled/Mesodinium_major", 2, "*.png"))
    vectors = embedder.embed_images(images)
    assert embedder.card.output_dim == 1280
    assert vectors.dtype == np.float32 and vectors.shape == (5, 1280)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len({v.tobytes() for v in vectors}) == 5


def test_the_same_image_gives_the_same_vector(embedder, zoolake_jpeg):
    image = decode_image(zoolake_jpeg.read_bytes(), LIMIT)
    first, second = embedder.embed_images([image]), embedder.embed_images([image.copy()])
    np.testing.assert_allclose(first, second, atol=1e-6)


def test_chunked_batches_match_one_batch(zoolake_jpeg):
    images = decoded(first_images("zoolake/bosmina", 5))
    whole = Embedder(MODEL, threads=1, batch_size=32).embed_images(images)
    chunked = Embedder(MODEL, threads=1, batch_size=2).embed_images(images)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


def test_thread_count_and_batch_size_leave_the_vectors_as_they_are():
    """EMBEDDER_THREADS and EMBEDDER_BATCH_SIZE are speed settings only: the shipped int8 model
    gives bit-identical vectors whatever they are, so no re-index follows a change of them."""
    from services.embedder.config import DEFAULT_MODEL

    images = decoded(first_images("zoolake/bosmina", 5) + first_images("zoolake/daphnia", 4))
    one = Embedder(DEFAULT_MODEL, threads=1, batch_size=32).embed_images(images)
    two = Embedder(DEFAULT_MODEL, threads=2, batch_size=4).embed_images(images)
    assert np.array_equal(one, two)


def test_a_flipped_image_is_closer_than_another_class(embedder):
    (daphnia,) = decoded(first_images("zoolake/daphnia"))
    others = decoded(first_images("zoolake/keratella_cochlearis", 5))
    vectors = embedder.embed_images([daphnia, cv2.flip(daphnia, 1), *others])
    similarity = vectors[1:] @ vectors[0]
    assert similarity[0] > similarity[1:].max()


def test_a_card_for_another_file_is_refused(tmp_path):
    model = tmp_path / "copy.onnx"
    model.write_bytes(MODEL.read_bytes()[:-1] + b"\x00")
    model.with_suffix(".json").write_text(MODEL.with_suffix(".json").read_text())
    with pytest.raises(ModelCardError, match="sha256"):
        Embedder(model)


def test_a_model_without_a_card_is_refused(tmp_path):
    model = tmp_path / "lonely.onnx"
    model.write_bytes(b"not read")
    with pytest.raises(ModelCardError, match="not found"):
        Embedder(model)


def test_tta_d4_gives_one_vector_for_every_flip_and_quarter_turn(shared_data):
    from nauplius.core.preprocess import decode_image
    from services.embedder.config import DEFAULT_MODEL

    path = sorted((shared_data / "zoolake" / "daphnia").iterdir())[0]
    image = decode_image(path.read_bytes(), 10**8)
    plain = Embedder(DEFAULT_MODEL, threads=2, tta="none")
    d4 = Embedder(DEFAULT_MODEL, threads=2, tta="d4")
    turned = [image, np.rot90(image), image[:, ::-1], np.rot90(image[::-1], 3)]
    with_tta = d4.embed_images(turned)
    without = plain.embed_images(turned)
    assert np.abs(with_tta - with_tta[0]).max() < 1e-4  # the same set of eight copies
    assert (without @ without[0]).min() < 0.99  # while the plain model tells them apart
    assert np.allclose(np.linalg.norm(with_tta, axis=1), 1.0, atol=1e-5)
    assert float(with_tta[0] @ without[0]) > 0.8


def test_the_card_names_the_tta_and_a_setting_overrides_it():
    from services.embedder.config import DEFAULT_MODEL

    shipped = Embedder(DEFAULT_MODEL, threads=2)
    assert shipped.tta == shipped.card.tta == "flips"  # the shipped card asks for it
    plain = Embedder(DEFAULT_MODEL, threads=2, tta="none")
    assert plain.tta == plain.card.tta == "none"  # and the card served says what is in use


def test_an_unknown_tta_is_refused():
    from services.embedder.config import DEFAULT_MODEL

    with pytest.raises(ValueError, match="tta must be one of"):
        Embedder(DEFAULT_MODEL, tta="spin")


def test_tta_hflip_gives_an_image_and_its_mirror_image_one_vector(shared_data):
    from nauplius.core.preprocess import decode_image
    from services.embedder.config import DEFAULT_MODEL

    path = sorted((shared_data / "zoolake" / "daphnia").iterdir())[0]
    image = decode_image(path.read_bytes(), 10**8)
    pair = [image, image[:, ::-1]]
    mirrored = Embedder(DEFAULT_MODEL, threads=1, tta="hflip").embed_images(pair)
    plain = Embedder(DEFAULT_MODEL, threads=1, tta="none").embed_images(pair)
    assert float(mirrored[0] @ mirrored[1]) > 1 - 1e-4  # the same two copies
    assert float(plain[0] @ plain[1]) < 0.99  # while the plain model tells them apart
    assert float(mirrored[0] @ plain[0]) > 0.8
