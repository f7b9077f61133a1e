"""Retrieval accuracy from ranked neighbour lists (pure functions, no I/O)."""
from __future__ import annotations

from collections import defaultdict

VOTE_NEIGHBOURS = 5


def weighted_vote(labels: list[str], weights: list[float]) -> str:
    """The label with the largest summed weight; ties go to the label of the nearer neighbour."""
    totals: dict[str, float] = defaultdict(float)
    for label, weight in zip(labels, weights, strict=True):
        totals[label] += weight
    return max(totals, key=lambda label: (totals[label], -labels.index(label)))


def similarity_weights(scores: list[float], metric: str) -> list[float]:
    """Vote weights from search scores: cosine similarity as is, Euclidean distance inverted."""
    if metric == "cosine":
        return [max(score, 0.0) + 1e-9 for score in scores]
    return [1.0 / (score + 1e-6) for score in scores]


def retrieval_scores(true_labels: list[str], neighbour_labels: list[list[str]],
                     neighbour_scores: list[list[float]], metric: str, k: int) -> dict:
    """top-1, 5-NN weighted vote, precision@k and mean per-class top-1 over all queries."""
    if not true_labels:
        raise ValueError("no queries to score")
    top1_hits, vote_hits, precisions = [], [], []
    per_class: dict[str, list[bool]] = defaultdict(list)
    for truth, labels, scores in zip(true_labels, neighbour_labels, neighbour_scores, strict=True):
        top1 = bool(labels) and labels[0] == truth
        top1_hits.append(top1)
        per_class[truth].append(top1)
        voters = labels[:VOTE_NEIGHBOURS]
        vote = weighted_vote(voters, similarity_weights(scores[:VOTE_NEIGHBOURS], metric)) if voters else None
        vote_hits.append(vote == truth)
        precisions.append(sum(label == truth for label in labels[:k]) / k)
    n = len(true_labels)
    class_top1 = {label: sum(hits) / len(hits) for label, hits in sorted(per_class.items())}
    return {
        "top1": sum(top1_hits) / n,
        "vote5": sum(vote_hits) / n,
        "precision_at_k": sum(precisions) / n,
        "mean_class_top1": sum(class_top1.values()) / len(class_top1),
        "per_class_top1": class_top1,
    }
