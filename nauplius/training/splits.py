"""Seeded, stratified train/validation splits of labelled image sets, shared by training and eval.

Training records (fraction, seed) and the hash of each part in the model card; `nauplius eval
--holdout` recomputes the same split, so a model is always scored on images it never trained on.
"""
from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from nauplius.training.datasets import ImageFile


@dataclass(frozen=True)
class Split:
    train: list[ImageFile]
    validation: list[ImageFile]


def stratified_split(files: list[ImageFile], fraction: float, seed: int) -> Split:
    """Hold out `fraction` of each class (at least one image of any class with two or more).

    Depends only on the files' class and name, not on where the set lies on disk.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the validation fraction must be between 0 and 1, not {fraction}")
    by_class: dict[str, list[ImageFile]] = defaultdict(list)
    for f in files:
        by_class[f.label or ""].append(f)
    rng = random.Random(seed)
    train, validation = [], []
    for label in sorted(by_class):
        members = sorted(by_class[label], key=lambda f: f.path.name)
        rng.shuffle(members)
        n_held = min(len(members) - 1, max(1, round(fraction * len(members))))
        validation += members[:n_held]
        train += members[n_held:]
    def key(f: ImageFile) -> tuple[str, str]:
        return (f.label or "", f.path.name)

    return Split(sorted(train, key=key), sorted(validation, key=key))


def file_list_sha256(files: list[ImageFile]) -> str:
    """sha256 of the sorted `<class>/<file name>` lines: names a set (or a part) independently of
    where it is stored."""
    lines = sorted(f"{f.label}/{f.path.name}" for f in files)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def set_name(folder: Path) -> str:
    return Path(folder).resolve().name
