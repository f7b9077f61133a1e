"""The int8 model (`nauplius model quantize`): its card, its vectors against the float model's,
retrieval with it, and the command that makes it."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from nauplius.cli import main as nauplius
from nauplius.core.preprocess import decode_image
from nauplius.model_quantize import Recipe, calibration_sample
from nauplius.training.datasets import labelled_images
from nauplius.training.splits import stratified_split
from services.embedder.card import load_card
from services.embedder.model import Embedder
from tests.support.data import REPO_ROOT, first_images

FLOAT = REPO_ROOT / "models" / "plankton-lite0.onnx"
INT8 = REPO_ROOT / "models" / "plankton-lite0-int8.onnx"
CLASSES = ["zoolake/asplanchna", "zoolake/ceratium", "zoolake/conochilus", "zoolake/daphnia",
           "zoolake/dinobryon", "zoolake/fish", "zoolake/fragilaria", "zoolake/kellicottia",
           "ndsb/acantharia_protist", "ndsb/amphipods", "ndsb/chaetognath_sagitta",
           "ndsb/copepod_calanoid", "ndsb/diatom_chain_tube", "ndsb/hydromedusae_solmaris",
           "ndsb/protist_star", "ndsb/trichodesmium_puff"]


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    return [decode_image(path.read_bytes(), 10**8)
            for folder in CLASSES for path in first_images(folder, 2)]


def test_the_int8_card_names_its_own_vector_space_and_recipe():
    card, source = load_card(INT8), load_card(FLOAT)
    assert card.name != source.name  # its vectors go to a collection of their own
    assert (card.input_size, card.mean, card.std, card.output_dim) == \
        (source.input_size, source.mean, source.std, source.output_dim)
    recipe = (card.model_extra or {})["quantization"]
    assert recipe["source_sha256"] == source.sha256
    assert recipe["calibration"]["split"].startswith("training part")
    assert INT8.stat().st_size < FLOAT.stat().st_size / 3


def test_int8_vectors_are_close_to_the_float_models(images):
    # measured on these 32 images (TTA none): cosine min 0.87, mean 0.96; two different images
    # of the float model: mean 0.09
    plain = Embedder(FLOAT, threads=1, tta="none").embed_images(images)
    int8 = Embedder(INT8, threads=1, tta="none").embed_images(images)
    own = (plain * int8).sum(axis=1)
    assert own.min() >= 0.75 and own.mean() >= 0.9
    # and each int8 vector is nearer its own image's float vector than any other image's
    assert ((int8 @ plain.T).argmax(axis=1) == np.arange(len(images))).all()


def test_int8_retrieval_tells_taxa_apart(images):
    labels = np.repeat(np.arange(len(CLASSES)), 2)
    vectors = Embedder(INT8, threads=1).embed_images(images)  # the card's TTA
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    assert (labels[similarity.argmax(axis=1)] == labels).mean() >= 0.85  # float and int8: 1.0


@pytest.fixture
def tiny_set(tmp_path: Path) -> Path:
    """Two ZooLake classes of three images each, linked into a folder of their own."""
    root = tmp_path / "tiny"
    for folder in ("zoolake/daphnia", "zoolake/fish"):
        (root / Path(folder).name).mkdir(parents=True)
        for path in first_images(folder, 3):
            (root / Path(folder).name / path.name).symlink_to(path)
    return root


def test_calibration_images_come_from_the_training_split_only(tiny_set):
    recipe = Recipe(images=100, holdout=0.34, seed=0)
    sample = calibration_sample([tiny_set], recipe)
    split = stratified_split(labelled_images(tiny_set), recipe.holdout, recipe.seed)
    assert {f.path for f in sample} == {f.path for f in split.train}
    assert not {f.path for f in sample} & {f.path for f in split.validation}


def test_quantize_gives_the_same_bytes_twice_and_a_loadable_card(tiny_set, tmp_path, images):
    outs = [tmp_path / run / "tiny-int8" for run in ("a", "b")]
    for out in outs:
        assert nauplius(["model", "quantize", "--model", str(FLOAT), "--calibration",
                         str(tiny_set), "--images", "4", "--holdout", "0.34",
                         "--out", str(out)]) == 0
    first, second = (out.with_suffix(".onnx").read_bytes() for out in outs)
    assert first == second
    embedder = Embedder(outs[0].with_suffix(".onnx"), threads=1, tta="none")
    assert embedder.card.name == "tiny-int8"
    assert embedder.card.sha256 == hashlib.sha256(first).hexdigest()
    assert (embedder.card.model_extra or {})["quantization"]["calibration"]["images"] == 4
    vectors = embedder.embed_images(images[:2])
    assert vectors.shape == (2, 1280) and np.isfinite(vectors).all()


def test_quantize_without_calibration_images_is_refused(tmp_path, capsys):
    (tmp_path / "empty" / "daphnia").mkdir(parents=True)
    code = nauplius(["model", "quantize", "--model", str(FLOAT), "--calibration",
                     str(tmp_path / "empty"), "--out", str(tmp_path / "x")])
    assert code == 2 and "holds no images" in capsys.readouterr().err
