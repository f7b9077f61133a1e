"""Labelled training images: decoded once into memory, augmented and prepared per sample.

Every sample goes through `nauplius.core.preprocess` (decode_image, then prepare after the
augmentation), the very code the embedder serves with.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from nauplius.core.contracts.embedder import ModelCard
from nauplius.core.preprocess import DEFAULT_MAX_PIXELS, decode_image, prepare
from nauplius.training.augment import Augmentation
from nauplius.training.datasets import ImageFile, labelled_images
from nauplius.training.splits import Split, file_list_sha256, set_name, stratified_split


@dataclass(frozen=True)
class LabelledSet:
    name: str
    folder: Path
    files: list[ImageFile]
    split: Split

    def describe(self) -> dict:
        return {
            "name": self.name,
            "n_images": len(self.files),
            "n_classes": len({f.label for f in self.files}),
            "file_list_sha256": file_list_sha256(self.files),
            "n_train": len(self.split.train),
            "n_validation": len(self.split.validation),
            "train_sha256": file_list_sha256(self.split.train),
            "validation_sha256": file_list_sha256(self.split.validation),
        }


def load_sets(folders: list[Path], fraction: float, seed: int) -> list[LabelledSet]:
    sets = []
    for folder in folders:
        files = labelled_images(Path(folder))
        sets.append(LabelledSet(set_name(folder), Path(folder), files,
                                stratified_split(files, fraction, seed)))
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise ValueError(f"two data folders share a name: {names}")
    return sets


def decode_all(files: list[ImageFile], progress: bool, what: str) -> list[np.ndarray]:
    return [decode_image(f.path.read_bytes(), DEFAULT_MAX_PIXELS)
            for f in tqdm(files, desc=f"decoding {what}", unit="img", disable=not progress)]


class AugmentedImages(torch.utils.data.Dataset):
    """(prepared image tensor, class index); a fresh augmentation per (seed, epoch, index)."""

    def __init__(self, images: list[np.ndarray], targets: list[int], card: ModelCard,
                 augmentation: Augmentation | None, seed: int):
        self.images, self.targets, self.card = images, targets, card
        self.augmentation, self.seed, self.epoch = augmentation, seed, 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.augmentation is not None:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            image = self.augmentation(image, rng)
        return torch.from_numpy(prepare(image, self.card)), self.targets[index]
