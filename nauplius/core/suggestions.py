"""Suggested taxa from validated neighbours: a distance-weighted k-NN vote, a common parent where
the neighbours split between sibling taxa, and confidences calibrated on held-out validated images.

Suggestions are stored as `predicted` labels (history shows them as by "suggestions"), written
only for images nobody has judged and only when they change. Nothing is re-embedded: a refresh
only queries the search index for neighbours that carry `state = validated`.
"""

import asyncio
import bisect
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nauplius.core.clients import Downstream

K = 10
# Weight of a neighbour: exp(cosine / TEMPERATURE); close neighbours count far more.
TEMPERATURE = 0.05
# A taxon holding less than this share of the vote is not suggested alone; the common parent of
# the taxa that together reach it is suggested instead, when they have one.
MAJORITY = 0.5
CONCURRENCY = 8


@dataclass(frozen=True)
class Vote:
    taxon: str
    share: float  # raw share of the weight behind the suggestion


def ancestors(taxon: str, parents: dict[str, str | None]) -> list[str]:
    """taxon, its parent, ... up to the root."""
    chain, seen = [], set()
    while taxon is not None and taxon not in seen:
        chain.append(taxon)
        seen.add(taxon)
        taxon = parents.get(taxon)
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


def reliability_table(pairs: list[tuple[float, bool]], edges=(0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0001)):
    """Rows {low, high, n, mean_confidence, accuracy}: does "0.9" mean 90 % right?"""
    rows = []
    for low, high in zip(edges, edges[1:]):
        inside = [(c, ok) for c, ok in pairs if low <= c < high]
        if inside:
            rows.append({
                "low": low, "high": min(high, 1.0), "n": len(inside),
                "mean_confidence": round(sum(c for c, _ in inside) / len(inside), 3),
                "accuracy": round(sum(ok for _, ok in inside) / len(inside), 3),
            })
    return rows


async def _all_images(downstream: Downstream, state: str, project: int | None) -> list[dict[str, Any]]:
    images, offset = [], 0
    while True:
        params: dict[str, Any] = {"state": state, "limit": 1000, "offset": offset}
        if project is not None:
            params["project_id"] = project
        page = await downstream.catalog.call("GET", "/v1/images", params=params)
        images += page["data"]
        offset += len(page["data"])
        if not page["data"] or offset >= page["count"]:
            return images


async def _parents(downstream: Downstream) -> dict[str, str | None]:
    taxa = (await downstream.catalog.call("GET", "/v1/taxa"))["data"]
    return {t["name"]: t["parent"] for t in taxa}


async def _validated_neighbours(downstream: Downstream, model: str, ids: list[int]) -> dict[int, list]:
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(image_id: int) -> list[tuple[str, float]]:
        async with semaphore:
            hits = await downstream.search.query(
                model, k=K, metric="cosine", image_id=image_id, filter={"state": "validated"}
            )
        return [(h.payload["label"], h.score) for h in hits if h.payload.get("label")]

    results = await asyncio.gather(*(one(i) for i in ids))
    return dict(zip(ids, results))


async def measure_and_calibrate(downstream: Downstream, model: str) -> dict[str, Any]:
    """Leave-one-out votes of validated images: fit on half, report reliability on the other
    half, then fit on all (what refreshes use). Stored in the catalog.

    Only labels a person set while looking at the image count as truth here. Labels accepted in
    bulk from a suggestion (they keep its confidence) would teach the calibration to agree with
    itself: their neighbours voted for them, so they look right whether or not they are."""
    parents = await _parents(downstream)
    validated = [image for image in await _all_images(downstream, "validated", None)
                 if image["label_confidence"] is None]
    neighbours = await _validated_neighbours(downstream, model, [i["id"] for i in validated])
    pairs: list[tuple[int, float, bool]] = []
    for image in validated:
        result = vote(neighbours[image["id"]], parents)
        if result is not None:
            pairs.append((image["id"], result.share, is_correct(result.taxon, image["label"], parents)))
    fit_half = fit_calibration([(s, ok) for i, s, ok in pairs if i % 2 == 0])
    held_out = [(calibrate(fit_half, s), ok) for i, s, ok in pairs if i % 2 == 1]
    calibration = {
        **fit_calibration([(s, ok) for _, s, ok in pairs]),
        "n": len(pairs),
        "reliability": reliability_table(held_out),
        "raw_reliability": reliability_table([(s, ok) for i, s, ok in pairs if i % 2 == 1]),
    }
    await downstream.catalog.call("PUT", "/v1/suggestions/calibration",
                                  json={"model": model, "calibration": calibration})
    return calibration


async def suggest(downstream: Downstream, model: str, ids: list[int]) -> int:
    """Recompute and store the suggestions of these (unjudged) images; returns how many changed."""
    if not ids:
        return 0
    parents = await _parents(downstream)
    stored = await downstream.catalog.call("GET", f"/v1/suggestions/calibration/{model}")
    neighbours = await _validated_neighbours(downstream, model, ids)
    predictions = []
    for image_id, found in neighbours.items():
        result = vote(found, parents)
        if result is not None:
            confidence = calibrate(stored["calibration"], result.share)
            predictions.append({"image_id": image_id, "taxon": result.taxon,
                                "confidence": round(confidence, 4)})
    written = 0
    for start in range(0, len(predictions), 5000):
        body = await downstream.catalog.call(
            "POST", "/v1/suggestions", json={"data": predictions[start:start + 5000]})
        written += body["written"]
    return written


async def unjudged(downstream: Downstream, project: int | None) -> list[int]:
    images = await _all_images(downstream, "unlabelled", project)
    images += await _all_images(downstream, "predicted", project)
    return [i["id"] for i in images]


async def neighbours_to_refresh(downstream: Downstream, model: str, changed: list[int]) -> list[int]:
    """Unjudged images that have a just-validated image among their near neighbours."""
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(image_id: int, state: str) -> list[int]:
        async with semaphore:
            hits = await downstream.search.query(
                model, k=K, metric="cosine", image_id=image_id, filter={"state": state}
            )
        return [h.id for h in hits]

    found = await asyncio.gather(*(one(i, s) for i in changed for s in ("unlabelled", "predicted")))
    return sorted({i for ids in found for i in ids})
