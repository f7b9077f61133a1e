"""Cluster proposals: HDBSCAN on (optionally PCA-reduced) embeddings, each cluster ordered from its
core outwards with an estimated purity. Pure numpy/scikit-learn: the worker's `clusters` job calls
it in a thread (services/worker/clusters.py); benchmarks/clusters.py measures it on the dev sets.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import HDBSCAN
from sklearn.decomposition import PCA

# Measured on the dev sets (benchmarks/clusters.py, docs/benchmarks.md "Cluster proposals").
MIN_CLUSTER_SIZE = 5
# ZooLake, 1,896 images: 1280-d 8.3 s, purity 0.984, coverage 0.847; PCA 64: 1.4 s, 0.979, 0.888.
PCA_DIMS = 64
SELECTION = "eom"


@dataclass(frozen=True)
class Proposal:
    members: list[int]  # image ids, core outwards
    estimated_purity: float
    mean_cosine: float  # the members' mean cosine to the medoid
    mean_probability: float  # HDBSCAN's mean membership probability


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit: np.ndarray = x / np.maximum(norms, 1e-12)
    return unit


def estimate_purity(mean_cosine: float) -> float:
    """The share of a cluster's members in its most common class, predicted from their mean
    cosine to the medoid: a line fitted on ZooLake's clusters (benchmarks/clusters.py), clipped."""
    return float(np.clip(PURITY_INTERCEPT + PURITY_SLOPE * mean_cosine, 0.05, 1.0))


# Weak (correlation 0.20 with real purity; mean membership probability: -0.34), but the best found.
PURITY_INTERCEPT = 0.784
PURITY_SLOPE = 0.212


def reduce(x: np.ndarray, dims: int | None) -> np.ndarray:
    """Unit vectors, PCA-reduced to `dims` (None: kept) and made unit again (cosine geometry)."""
    x = _unit(np.asarray(x, np.float32))
    if dims is None or dims >= min(x.shape):
        return x
    return _unit(PCA(n_components=dims, random_state=0).fit_transform(x).astype(np.float32))


def propose(ids: list[int], vectors: np.ndarray, *, min_cluster_size: int = MIN_CLUSTER_SIZE,
            pca_dims: int | None = PCA_DIMS, selection: str = SELECTION) -> list[Proposal]:
    """Clusters of these images, best first (size x estimated purity); noise is left out."""
    if len(ids) < max(2, min_cluster_size):
        return []
    full = _unit(np.asarray(vectors, np.float32))
    x = reduce(full, pca_dims)
    model = HDBSCAN(min_cluster_size=min_cluster_size, cluster_selection_method=selection,
                    copy=True)
    labels = model.fit_predict(x)
    proposals = []
    for label in sorted(set(labels.tolist()) - {-1}):
        rows = np.flatnonzero(labels == label)
        members = full[rows]
        centroid = _unit(members.mean(axis=0, keepdims=True))[0]
        medoid = members[int(np.argmax(members @ centroid))]
        cosine = members @ medoid
        order = np.argsort(-cosine, kind="stable")  # core (nearest the medoid) outwards
        mean_cosine = float(cosine.mean())
        proposals.append(Proposal(
            members=[ids[int(rows[i])] for i in order],
            estimated_purity=round(estimate_purity(mean_cosine), 4),
            mean_cosine=round(mean_cosine, 4),
            mean_probability=round(float(model.probabilities_[rows].mean()), 4)))
    proposals.sort(key=lambda p: -len(p.members) * p.estimated_purity)
    return proposals
