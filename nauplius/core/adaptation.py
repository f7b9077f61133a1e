"""An adaptation head: a linear map fitted on a project's labelled stored vectors (issue #17).

The head sends each unit vector x to the unit row of [w * x, z / |z|], where z = (x - mean) @ P is a
linear discriminant projection fitted on the labels. Cosine in the adapted space is then
(w^2 cos(x, y) + cos(z_x, z_y)) / (w^2 + 1): a blend of the plain and the discriminant similarity,
so search works unchanged. w and the discriminant's settings are chosen by cross-validated kNN
top-1 on the labels the head is fitted on; when no candidate beats the plain embedding, the head is
the identity (`kind` "identity") and changes nothing.

Nothing here imports a service: the worker and the command line both use it.
"""
from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
CV_FOLDS = 5
# Weights of the plain vector beside the unit discriminant part; 0 = the discriminant alone.
ORIGINAL_WEIGHTS = (0.0, 0.5, 1.0, 2.0)
# Shrinkages of the within-class covariance tried. scikit-learn's Ledoit-Wolf choice ("auto")
# scored 0.2-5.6 points under a fixed 0.1 in cross-validation on ZooLake and NDSB
# (docs/benchmarks.md), so it is not among them.
SHRINKAGES = (0.03, 0.1, 0.3)
QUERY_CHUNK = 2048  # rows per block of the cross-validation's dot products: bounded memory


@dataclass(frozen=True)
class AdaptationHead:
    """A fitted head; `transform` maps (n, d) vectors to (n, d_out) unit rows."""

    kind: str  # "identity" or "lda"
    input_dim: int
    mean: np.ndarray  # (d,) float32, empty for the identity
    projection: np.ndarray  # (d, p) float32, empty for the identity
    original_weight: float
    description: dict[str, Any] = field(default_factory=dict)

    @property
    def output_dim(self) -> int:
        if self.kind == "identity":
            return self.input_dim
        return (self.input_dim if self.original_weight > 0 else 0) + int(self.projection.shape[1])

    @property
    def version(self) -> str:
        """sha256 of what the transform depends on: equal versions, equal vectors."""
        digest = hashlib.sha256()
        digest.update(json.dumps({"format": FORMAT_VERSION, "kind": self.kind,
                                  "input_dim": self.input_dim,
                                  "original_weight": self.original_weight}).encode())
        for array in (self.mean, self.projection):
            digest.update(str(array.shape).encode())
            digest.update(np.ascontiguousarray(array, dtype="<f4").tobytes())
        return digest.hexdigest()

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        x = _check_vectors(vectors, self.input_dim)
        if self.kind == "identity":
            return _unit_rows(x)
        return _blend(x, self.mean, self.projection, self.original_weight)

    def to_bytes(self) -> bytes:
        """An .npz file's bytes (arrays + a JSON header, no pickles), for a file or a bytea."""
        header = {"format": FORMAT_VERSION, "kind": self.kind, "input_dim": self.input_dim,
                  "original_weight": self.original_weight, "description": self.description,
                  "version": self.version}
        buffer = io.BytesIO()
        np.savez(buffer, mean=self.mean.astype("<f4"), projection=self.projection.astype("<f4"),
                 header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> AdaptationHead:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            header = json.loads(arrays["header"].tobytes())
            if header.get("format") != FORMAT_VERSION:
                raise ValueError(f"adaptation head format {header.get('format')!r}, "
                                 f"this code reads {FORMAT_VERSION}")
            head = cls(header["kind"], int(header["input_dim"]),
                       arrays["mean"].astype(np.float32), arrays["projection"].astype(np.float32),
                       float(header["original_weight"]), header["description"])
        if head.version != header["version"]:
            raise ValueError("adaptation head damaged: its arrays do not match its version")
        return head

    def save(self, path: Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: Path) -> AdaptationHead:
        return cls.from_bytes(Path(path).read_bytes())


def identity_head(input_dim: int, description: dict[str, Any] | None = None) -> AdaptationHead:
    empty = np.zeros((0,), np.float32)
    return AdaptationHead("identity", input_dim, empty, np.zeros((0, 0), np.float32), 1.0,
                          description or {"kind": "identity"})


def fit_head(vectors: np.ndarray, labels: Sequence[str], seed: int = 0,
             folds: int = CV_FOLDS) -> AdaptationHead:
    """Fits the head on labelled vectors (n, d): every candidate is scored by `folds`-fold
    cross-validated kNN top-1 on these labels alone, the best one refitted on all of them. The
    identity when no candidate beats the plain vectors."""
    x = _check_vectors(vectors, None)
    y = np.asarray(labels, dtype=object)
    if len(y) != len(x):
        raise ValueError(f"{len(x)} vectors but {len(y)} labels")
    classes = sorted(set(y.tolist()))
    if len(classes) < 2:
        raise ValueError("an adaptation head needs labelled images of at least two classes")
    counts = {c: int((y == c).sum()) for c in classes}
    fold_of = _stratified_folds(y, folds, seed)

    plain = _cv_top1(x, y, fold_of)
    correct = {(a, w): 0 for a in SHRINKAGES for w in ORIGINAL_WEIGHTS}
    for fold in range(folds):
        train, test = fold_of != fold, fold_of == fold
        if not test.any() or len(set(y[train].tolist())) < 2:
            continue
        for alpha, (mean, projection) in zip(
                SHRINKAGES, _fit_discriminants(x[train], y[train], SHRINKAGES), strict=True):
            for weight in ORIGINAL_WEIGHTS:
                correct[(alpha, weight)] += _top1_correct(
                    _blend(x[test], mean, projection, weight),
                    _blend(x[train], mean, projection, weight), y[test], y[train])
    scores = {key: hits / len(x) for key, hits in correct.items()}
    (best_alpha, best_weight), best = max(scores.items(), key=lambda item: item[1])

    learned_from = {"images": len(x), "classes": len(classes),
                    "images_per_class_min": min(counts.values()),
                    "images_per_class_max": max(counts.values())}
    tried = [{"shrinkage": a, "original_weight": w, "cv_top1": round(s, 4)}
             for (a, w), s in sorted(scores.items())]
    cross_validation = {"folds": folds, "seed": seed, "top1_plain": round(plain, 4),
                        "top1_adapted": round(max(best, plain), 4), "tried": tried}
    if best <= plain:
        return identity_head(x.shape[1], {
            "kind": "identity", "why": "no candidate beat the plain embedding in "
            "cross-validation", "cross_validation": cross_validation,
            "learned_from": learned_from, "input_dim": x.shape[1], "output_dim": x.shape[1]})
    [(mean, projection)] = _fit_discriminants(x, y, [best_alpha])
    output_dim = (x.shape[1] if best_weight > 0 else 0) + projection.shape[1]
    return AdaptationHead("lda", x.shape[1], mean, projection, best_weight, {
        "kind": "lda", "parameters": {"shrinkage": best_alpha, "original_weight": best_weight,
                                      "components": projection.shape[1]},
        "cross_validation": cross_validation, "learned_from": learned_from,
        "input_dim": x.shape[1], "output_dim": output_dim})


def subsample_per_class(labels: Sequence[str], per_class: int, seed: int) -> np.ndarray:
    """Indices of at most `per_class` rows of each label, seeded, in ascending order."""
    if per_class < 1:
        raise ValueError(f"the number of labels per class must be 1 or more, not {per_class}")
    rng = np.random.default_rng(seed)
    y = np.asarray(labels, dtype=object)
    picked = [rng.permutation(np.flatnonzero(y == c))[:per_class] for c in sorted(set(y.tolist()))]
    if not picked:
        return np.zeros(0, np.int64)
    return np.sort(np.concatenate(picked)).astype(np.int64)


def _fit_discriminants(x: np.ndarray, y: np.ndarray,
                       shrinkages: Sequence[float]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(mean, projection) of a shrunk linear discriminant for each shrinkage alpha: the top C-1
    generalised eigenvectors of the between-class scatter against the within-class one
    Sw = (1 - alpha) W + alpha tr(W)/d I, scaled so that P^T Sw P = I.

    W is decomposed once for all the shrinkages, through the n x n Gram matrix when there are fewer
    images than dimensions: Sw's inverse square root is then V f(s^2) V^T plus a constant on the
    rest of the space, and costs no d x d decomposition."""
    x = x.astype(np.float64)
    classes = sorted(set(y.tolist()))
    mean = x.mean(axis=0)
    class_means = np.stack([x[y == c].mean(axis=0) for c in classes])
    priors = np.array([(y == c).mean() for c in classes])
    between = np.sqrt(priors)[:, None] * (class_means - mean)  # Sb = between^T between
    index = {c: i for i, c in enumerate(classes)}
    residuals = (x - class_means[[index[c] for c in y.tolist()]]) / np.sqrt(len(x))  # W = R^T R
    if len(x) < x.shape[1]:
        values, vectors = np.linalg.eigh(residuals @ residuals.T)
        keep = values > values.max() * 1e-10
        basis = residuals.T @ vectors[:, keep] / np.sqrt(values[keep])
        values = values[keep]
    else:
        values, basis = np.linalg.eigh(residuals.T @ residuals)
    scale = max(float(values.sum()) / x.shape[1], 1e-12)  # tr(W) / d
    projected = between @ basis
    outside = between - projected @ basis.T  # the part of Sb's span W does not reach
    heads = []
    for alpha in shrinkages:
        inside_root = 1.0 / np.sqrt((1 - alpha) * values + alpha * scale)
        outside_root = 1.0 / np.sqrt(alpha * scale)
        whitened = (projected * inside_root) @ basis.T + outside_root * outside  # between Sw^-1/2
        _, singular, directions = np.linalg.svd(whitened, full_matrices=False)
        top = directions[:max(1, int((singular > singular.max() * 1e-8).sum()))][:len(classes) - 1]
        # Sw^-1/2 applied to each direction
        along = top @ basis
        projection = ((along * inside_root) @ basis.T + outside_root * (top - along @ basis.T)).T
        heads.append((mean.astype(np.float32), projection.astype(np.float32)))
    return heads


def _blend(x: np.ndarray, mean: np.ndarray, projection: np.ndarray, weight: float) -> np.ndarray:
    z = _unit_rows((x - mean) @ projection)
    parts = [weight * _unit_rows(x), z] if weight > 0 else [z]
    return _unit_rows(np.concatenate(parts, axis=1))


def _cv_top1(x: np.ndarray, y: np.ndarray, fold_of: np.ndarray) -> float:
    x = _unit_rows(x)
    correct = sum(_top1_correct(x[fold_of == f], x[fold_of != f], y[fold_of == f], y[fold_of != f])
                  for f in np.unique(fold_of))
    return correct / len(x)


def _top1_correct(queries: np.ndarray, gallery: np.ndarray, query_labels: np.ndarray,
                  gallery_labels: np.ndarray) -> int:
    correct = 0
    for start in range(0, len(queries), QUERY_CHUNK):
        nearest = np.argmax(queries[start:start + QUERY_CHUNK] @ gallery.T, axis=1)
        correct += int((gallery_labels[nearest] == query_labels[start:start + QUERY_CHUNK]).sum())
    return correct


def _stratified_folds(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number of each row: each class dealt round the folds in a seeded order."""
    if folds < 2:
        raise ValueError(f"cross-validation needs 2 or more folds, not {folds}")
    rng = np.random.default_rng(seed)
    fold_of = np.zeros(len(y), np.int64)
    for c in sorted(set(y.tolist())):
        members = rng.permutation(np.flatnonzero(y == c))
        fold_of[members] = (np.arange(len(members)) + rng.integers(folds)) % folds
    return fold_of


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit: np.ndarray = (x / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def _check_vectors(vectors: np.ndarray, dim: int | None) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"vectors must be a non-empty (n, d) array, not shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"the head was fitted on {dim}-d vectors, these are {x.shape[1]}-d")
    if not np.isfinite(x).all():
        raise ValueError("vectors hold NaN or infinite values")
    return x
