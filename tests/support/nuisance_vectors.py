"""Stored vectors for adaptation tests: two classes whose nearest neighbours a nuisance direction
decides (each image's `side`), with a weaker class direction that a discriminant head finds."""

import numpy as np

# Validated images per class, one of them on the other class's side.
PER_CLASS = 20


def nuisance_vectors(dim: int, sides: list[float], classes: list[str], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.002, (len(sides), dim))
    x[:, 0] += 1.0  # common to all: cosines stay positive
    x[:, 1] += np.asarray(sides) * 0.8  # the nuisance
    x[:, 2] += np.where(np.asarray(classes) == "daphnia", 0.15, -0.15)  # the class signal
    unit: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return unit
