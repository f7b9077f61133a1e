"""The validation split and the augmentations, without torch: both are shared with `nauplius eval`
and the embedder."""
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from nauplius.core.preprocess import decode_image
from nauplius.training.augment import Augmentation, rotate, shrink_in_canvas
from nauplius.training.datasets import labelled_images
from nauplius.training.splits import file_list_sha256, stratified_split
from services.embedder.config import DEFAULT_MODEL
from services.embedder.model import Embedder

CLASSES = ["daphnia", "fish", "ceratium", "kellicottia", "dinobryon"]


@pytest.fixture(scope="module")
def zoolake(shared_data):
    return labelled_images(shared_data / "zoolake")


def test_split_is_stratified_disjoint_and_seeded(zoolake):
    split = stratified_split(zoolake, 0.2, seed=0)
    train, held = Counter(f.label for f in split.train), Counter(f.label for f in split.validation)
    assert set(train) == set(held) == {f.label for f in zoolake}
    for label, n in held.items():
        assert abs(n - 0.2 * (n + train[label])) <= 1
    assert not {f.path for f in split.train} & {f.path for f in split.validation}
    assert len(split.train) + len(split.validation) == len(zoolake)
    again = stratified_split(list(reversed(zoolake)), 0.2, seed=0)
    assert file_list_sha256(again.validation) == file_list_sha256(split.validation)
    other = stratified_split(zoolake, 0.2, seed=1)
    assert file_list_sha256(other.validation) != file_list_sha256(split.validation)


def test_split_refuses_a_fraction_outside_zero_one(zoolake):
    with pytest.raises(ValueError, match="between 0 and 1"):
        stratified_split(zoolake, 1.0, seed=0)


def _images(shared_data, per_class):
    files = [p for c in CLASSES for p in sorted((shared_data / "zoolake" / c).iterdir())[:per_class]]
    return [decode_image(p.read_bytes(), 10**8) for p in files], np.repeat(CLASSES, per_class)


def test_rotation_grows_the_canvas_and_never_crops(shared_data):
    image = _images(shared_data, 1)[0][0]
    h, w = image.shape[:2]
    quarter = rotate(image, 90.0)
    assert quarter.shape[:2] == (w, h)
    assert np.abs(quarter.astype(int) - np.rot90(image).astype(int)).mean() < 1.0
    diagonal = rotate(image, 45.0)
    assert diagonal.shape[0] >= (h + w) / np.sqrt(2) - 1
    padded = shrink_in_canvas(image, 0.5, np.random.default_rng(0))
    assert padded.shape[:2] == (2 * h, 2 * w)


def test_greyscale_turns_colour_grey_with_its_probability(shared_data):
    images = _images(shared_data, 4)[0]
    colour = [image for image in images if np.ptp(image.astype(int), axis=2).max() > 10]
    assert colour  # ZooLake is a colour camera
    only_grey = Augmentation(rotation=False, flips=False, blur_p=0.0, brightness=0.0,
                             contrast=0.0, scale=(1.0, 1.0), greyscale_p=1.0)
    for image in colour:
        grey = only_grey(image, np.random.default_rng(0))
        assert grey.shape == image.shape
        assert (grey == grey[:, :, :1]).all()  # three equal channels
        assert np.abs(grey[:, :, 0].astype(int) - image.mean(axis=2)).mean() < 10
    unchanged = replace(only_grey, greyscale_p=0.0)
    assert all((unchanged(image, np.random.default_rng(0)) == image).all() for image in colour)
    half = replace(only_grey, greyscale_p=0.5)
    grey = only_grey(colour[0], np.random.default_rng(0))
    rng = np.random.default_rng(1)
    turned = sum(bool((half(colour[0], rng) == grey).all()) for _ in range(200))
    assert 70 < turned < 130


def test_an_augmented_image_embeds_nearest_its_original(shared_data):
    """Augmentations change the pose and look, not what the organism is: with the shipped model
    an augmented image stays nearer its original than other taxa are, and its nearest original
    is of its own taxon."""
    images, labels = _images(shared_data, 4)
    embedder = Embedder(DEFAULT_MODEL, threads=2)
    originals = embedder.embed_images(images)
    augment = Augmentation(scale=(0.85, 1.0))
    rng = np.random.default_rng(0)
    rotated = embedder.embed_images([rotate(image, 137.0) for image in images])
    augmented = embedder.embed_images([augment(image, rng) for image in images])
    for variants in (rotated, augmented):
        similarity = variants @ originals.T
        other_taxa = labels[None, :] != labels[:, None]
        mean_other = np.where(other_taxa, similarity, np.nan)
        assert (np.diag(similarity) > np.nanmean(mean_other, axis=1) + 0.1).all()
        assert (labels[similarity.argmax(axis=1)] == labels).mean() >= 0.9
