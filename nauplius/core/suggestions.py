"""Suggested taxa from validated neighbours: a distance-weighted k-NN vote, a common parent where
the neighbours split between sibling taxa, and confidences calibrated on held-out validated images.

The maths only: a refresh (`nauplius.core.suggestion_refresh`, run as a job by the worker)
queries the neighbours and stores the suggestions as `predicted` labels.
"""

import bisect
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

K = 10
# Weight of a neighbour: exp(cosine / TEMPERATURE); close neighbours count far more.
TEMPERATURE = 0.05
# A taxon holding less than this share of the vote is not suggested alone; the common parent of
# the taxa that together reach it is suggested instead, when they have one.
MAJORITY = 0.5


@dataclass(frozen=True)
class Vote:
    taxon: str
    share: float  # raw share of the weight behind the suggestion


def ancestors(taxon: str, parents: dict[str, str | None]) -> list[str]:
    """taxon, its parent, ... up to the root."""
    chain: list[str] = []
    seen: set[str] = set()
    current: str | None = taxon
    while current is not None and current not in seen:
        chain.append(current)
        seen.add(current)
        current = parents.get(current)
    return chain


def common_parent(taxa: Iterable[str], parents: dict[str, str | None]) -> str | None:
    chains = [ancestors(t, parents) for t in taxa]
    shared = set(chains[0]).intersection(*map(set, chains[1:]))
    return next((t for t in chains[0] if t in shared), None)


def vote(neighbours: list[tuple[str, float]], parents: dict[str, str | None]) -> Vote | None:
    """neighbours: (validated taxon, cosine score) pairs."""
    weights: dict[str, float] = defaultdict(float)
    for taxon, score in neighbours:
        weights[taxon] += math.exp(score / TEMPERATURE)
    total = sum(weights.values())
    if total == 0:
        return None
    ranked = sorted(weights.items(), key=lambda item: -item[1])
    top, top_weight = ranked[0]
    if top_weight / total >= MAJORITY:
        return Vote(top, top_weight / total)
    leading, covered = [], 0.0
    for taxon, weight in ranked:
        leading.append(taxon)
        covered += weight
        if covered / total >= MAJORITY:
            break
    parent = common_parent(leading, parents)
    if parent is None:
        return Vote(top, top_weight / total)
    under = sum(w for t, w in weights.items() if parent in ancestors(t, parents))
    return Vote(parent, under / total)


def is_correct(suggested: str, truth: str, parents: dict[str, str | None]) -> bool:
    """Right when it is the true taxon or one of its ancestors (a coarser but true answer)."""
    return suggested in ancestors(truth, parents)


def smoothed(correct: float, n: float) -> float:
    """Accuracy of a block with one right and one wrong pseudo-observation added (Laplace): a
    share seen right 5 times out of 5 reads 0.86, not 1.0, and only hundreds of right answers
    earn 0.99, so a calibration learnt from a few seeds of one class never claims certainty."""
    return (correct + 1.0) / (n + 2.0)


def fit_calibration(pairs: list[tuple[float, bool]]) -> dict[str, list[float]]:
    """Isotonic regression (pool adjacent violators) of correctness on raw share, on smoothed
    block accuracies."""
    # Equal shares form one block first: otherwise ties sorted False-before-True would split a
    # share into a wrong-only and a right-only block, and the lookup would hit the first.
    tied: dict[float, list[float]] = {}
    for share, correct in pairs:
        counts = tied.setdefault(share, [0.0, 0.0])
        counts[0] += float(correct)
        counts[1] += 1.0
    blocks: list[list[float]] = []  # [upper raw share, correct count, n]
    for share in sorted(tied):
        blocks.append([share, *tied[share]])
        while len(blocks) > 1 and smoothed(*blocks[-2][1:]) >= smoothed(*blocks[-1][1:]):
            upper, c, n = blocks.pop()
            blocks[-1] = [upper, blocks[-1][1] + c, blocks[-1][2] + n]
    return {"upper": [b[0] for b in blocks], "value": [smoothed(c, n) for _, c, n in blocks]}


def calibrate(calibration: dict[str, list[float]] | None, share: float) -> float:
    if not calibration or not calibration["upper"]:
        return share
    i = bisect.bisect_left(calibration["upper"], share)
    return calibration["value"][min(i, len(calibration["value"]) - 1)]


def reliability_table(
    pairs: list[tuple[float, bool]],
    edges: tuple[float, ...] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0001),
) -> list[dict[str, Any]]:
    """Rows {low, high, n, mean_confidence, accuracy}: does "0.9" mean 90 % right?"""
    rows: list[dict[str, Any]] = []
    for low, high in itertools.pairwise(edges):
        inside = [(c, ok) for c, ok in pairs if low <= c < high]
        if inside:
            rows.append({
                "low": low, "high": min(high, 1.0), "n": len(inside),
                "mean_confidence": round(sum(c for c, _ in inside) / len(inside), 3),
                "accuracy": round(sum(ok for _, ok in inside) / len(inside), 3),
            })
    return rows
