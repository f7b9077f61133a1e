"""Suggestions refresh, full or incremental: the work of a `suggestions` job (the worker runs it).

Full: leave-one-out votes of every validated image a person looked at calibrate the confidences;
then every unjudged image is voted on by its validated neighbours. Incremental: only what the
human label changes since the last run touch is voted on again: the changed images, the validated
images near them (their leave-one-out votes) and the unjudged images near them (their
suggestions); the calibration is refitted from the stored votes with those replaced.

"Near" is the reverse neighbourhood: the images that may have a changed image among their K
validated neighbours. It is found from the changed image's side, with a depth that grows as
validated images get sparse (each validated image is then a neighbour of more images).
"""

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nauplius.core.adapted_search import ActiveHeads, adapt_pools, pool_k
from nauplius.core.clients import Downstream
from nauplius.core.contracts.catalog import Prediction
from nauplius.core.contracts.search import MAX_BATCH_QUERIES, QueryFilter, QueryRequest
from nauplius.core.jobs import Progress
from nauplius.core.pipeline import bounded
from nauplius.core.suggestions import K, Vote, calibrate, fit_calibration, is_correct, reliability_table, vote

# Images voted on per batch: one search batch query (their neighbours) and, for suggestions, one
# catalog write. Batches in flight at once: one's search overlaps another's catalog write.
BATCH = MAX_BATCH_QUERIES
BATCH_CONCURRENCY = 2
VALIDATED = QueryFilter(state="validated")
# Reverse-neighbourhood depth: at least K, at most this many per changed image.
MAX_REVERSE_DEPTH = 1000
UNJUDGED_STATES = ("unlabelled", "predicted")

VALIDATED_REVERSE_DEPTH = 5 * K
# An incremental run that would re-score more than this share of the unjudged images runs full.
FULL_RUN_SHARE = 0.5

R = TypeVar("R")


@dataclass
class RefreshReport:
    mode: str  # full | incremental
    images: int = 0  # unjudged images re-scored
    changed: int = 0  # suggestions that changed
    calibrated_on: int = 0
    revoted: int = 0  # validated images whose leave-one-out vote was recomputed
    label_changes: int = 0  # human label changes the run caught up with
    reliability: list[dict[str, Any]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {"mode": self.mode, "images": self.images, "changed": self.changed,
                "calibrated_on": self.calibrated_on, "revoted": self.revoted,
                "label_changes": self.label_changes, "reliability": self.reliability}


class Refresher:
    """One run over one model's collection, optionally limited to one project's unjudged images."""

    def __init__(self, downstream: Downstream, model: str, project: int | None,
                 progress: Progress, batch: int = BATCH, heads: ActiveHeads | None = None) -> None:
        self.downstream = downstream
        self.heads = heads  # projects' adaptation heads: votes in their adapted space
        self.batch = batch
        self.model = model
        self.project = project
        self.progress = progress
        self._done = 0
        self._total = 0

    async def _tick(self, n: int = 1) -> None:
        before, self._done = self._done, self._done + n
        if before // 200 != self._done // 200 or self._done == self._total:
            await self.progress(self._done, self._total)

    async def _votes(self, ids: list[int], parents: dict[str, str | None]) -> dict[int, Vote | None]:
        """Each image's vote by its K validated neighbours, a batch of them at a time."""
        async def one_batch(batch: list[int]) -> dict[int, Vote | None]:
            k = K if self.heads is None else pool_k(K)
            queries = [QueryRequest(id=i, k=k, metric="cosine", filter=VALIDATED) for i in batch]
            answers = await self.downstream.search.query_batch(self.model, queries)
            if self.heads is not None:
                answers = await adapt_pools(self.downstream.search, self.model, self.heads, batch,
                                            answers, K)
            await self._tick(len(batch))
            return {i: vote([(h.payload["label"], h.score) for h in hits if h.payload.get("label")],
                            parents)
                    for i, hits in zip(batch, answers, strict=True)}

        votes: dict[int, Vote | None] = {}
        for found in await self._batched(ids, one_batch):
            votes.update(found)
        return votes

    async def _batched(self, ids: list[int],
                       call: Callable[[list[int]], Awaitable[R]]) -> list[R]:
        """call over `ids` in batches of self.batch, BATCH_CONCURRENCY at a time, in order."""
        batches = [ids[start:start + self.batch] for start in range(0, len(ids), self.batch)]
        return await bounded(BATCH_CONCURRENCY, batches, call)

    async def _near(self, changed: list[int], states: tuple[str, ...], depth: int) -> set[int]:
        """Images in `states` among the `depth` nearest of each changed image."""
        project = str(self.project) if self.project is not None and states == UNJUDGED_STATES else None
        queries = [QueryRequest(id=i, k=depth, metric="cosine",
                                filter=QueryFilter(state=state, project=project))
                   for i in changed for state in states]
        answers = await self.downstream.search.query_batch(self.model, queries)
        return {hit.id for hits in answers for hit in hits}

    async def run(self, incremental: bool) -> RefreshReport:
        catalog = self.downstream.catalog
        watermark = await catalog.last_label_id()
        stored = (await catalog.calibration(self.model)).calibration
        parents = await catalog.taxon_parents()
        if incremental and stored is not None and "watermark" in stored and "votes" in stored:
            report = await self._incremental(stored, watermark, parents)
        else:
            report = await self._full(watermark, parents)
        await self.progress(self._total, self._total)
        return report

    async def _full(self, watermark: int, parents: dict[str, str | None],
                    validated: dict[int, str] | None = None) -> RefreshReport:
        catalog = self.downstream.catalog
        if validated is None:
            validated = await catalog.human_validated(None)
        unjudged = await catalog.unjudged_ids(self.project)
        self._total = len(validated) + len(unjudged)
        votes = await self._votes(list(validated), parents)
        pairs = {i: (v.share, is_correct(v.taxon, validated[i], parents))
                 for i, v in votes.items() if v is not None}
        calibration = await self._store_calibration(pairs, watermark)
        report = RefreshReport("full", calibrated_on=calibration["n"], revoted=len(validated),
                               reliability=calibration["reliability"])
        report.images = len(unjudged)
        report.changed = await self._suggest(unjudged, calibration, parents)
        return report

    async def _incremental(self, stored: dict[str, Any], watermark: int,
                           parents: dict[str, str | None]) -> RefreshReport:
        catalog = self.downstream.catalog
        changed = await catalog.label_changes_since(stored["watermark"])
        report = RefreshReport("incremental", label_changes=len(changed))
        pairs: dict[int, tuple[float, bool]] = {int(i): (s, bool(ok))
                                                for i, (s, ok) in stored["votes"].items()}
        if not changed:
            calibration = await self._store_calibration(pairs, watermark)
            report.calibrated_on = calibration["n"]
            report.reliability = calibration["reliability"]
            return report
        validated = await catalog.human_validated(None)
        unjudged_count = await catalog.unjudged_count(self.project)
        # Each validated image is among the K validated neighbours of about K x (images per
        # validated image) others; twice that depth catches nearly all of them.
        depth = min(MAX_REVERSE_DEPTH, max(K, math.ceil(2 * K * (unjudged_count + len(validated))
                                                        / max(1, len(validated)))))
        # A validated image may have a changed one among its K validated neighbours without being
        # among that one's K: look deeper (the relation is not symmetric).
        near_validated = await self._near(changed, ("validated",), VALIDATED_REVERSE_DEPTH)
        revote = sorted((near_validated | set(changed)) & set(validated))
        rescore = sorted((await self._near(changed, UNJUDGED_STATES, depth)) - set(validated))
        if len(rescore) > FULL_RUN_SHARE * unjudged_count:
            # Early on, a few validations change most neighbourhoods: a full run is cheaper.
            return await self._full(watermark, parents, validated)
        self._total = len(revote) + len(rescore)
        for image_id in changed:
            pairs.pop(image_id, None)  # no longer validated by a person, or voted again below
        votes = await self._votes(revote, parents)
        pairs.update({i: (v.share, is_correct(v.taxon, validated[i], parents))
                      for i, v in votes.items() if v is not None})
        pairs = {i: p for i, p in pairs.items() if i in validated}
        calibration = await self._store_calibration(pairs, watermark)
        report.calibrated_on = calibration["n"]
        report.reliability = calibration["reliability"]
        report.revoted = len(revote)
        report.images = len(rescore)
        report.changed = await self._suggest(rescore, calibration, parents)
        report.changed += await self._remap(calibration, set(rescore))
        return report

    async def _store_calibration(self, pairs: dict[int, tuple[float, bool]],
                                 watermark: int) -> dict[str, Any]:
        """Fit on half, report reliability on the other half, then fit on all (what suggestions
        use). The votes are kept for the next incremental run."""
        fit_half = fit_calibration([p for i, p in pairs.items() if i % 2 == 0])
        held_out = [(calibrate(fit_half, s), ok) for i, (s, ok) in pairs.items() if i % 2 == 1]
        calibration = {
            **fit_calibration(list(pairs.values())),
            "n": len(pairs),
            "reliability": reliability_table(held_out),
            "raw_reliability": reliability_table([p for i, p in pairs.items() if i % 2 == 1]),
            "watermark": watermark,
            "votes": {str(i): [s, ok] for i, (s, ok) in pairs.items()},
        }
        await self.downstream.catalog.put_calibration(self.model, calibration)
        return calibration

    async def _suggest(self, ids: list[int], calibration: dict[str, Any],
                       parents: dict[str, str | None]) -> int:
        """Vote on and store the suggestions of these images, a batch at a time (only one
        batch's votes are held at once); how many changed."""
        async def one_batch(batch: list[int]) -> int:
            predictions = [Prediction(image_id=i, taxon=v.taxon,
                                      confidence=round(calibrate(calibration, v.share), 4),
                                      share=v.share)
                           for i, v in (await self._votes(batch, parents)).items() if v is not None]
            return await self.downstream.catalog.store_predictions(predictions)

        return sum(await self._batched(ids, one_batch))

    async def _remap(self, calibration: dict[str, Any], rescored: set[int]) -> int:
        """The suggestions this run did not re-score, their confidences mapped again from their
        stored raw shares by the refitted calibration (no search query); how many changed."""
        predictions = [Prediction(image_id=row.id, taxon=row.label,
                                  confidence=round(calibrate(calibration, row.share), 4),
                                  share=row.share)
                       for row in await self.downstream.catalog.suggested(self.project)
                       if row.id not in rescored and row.share is not None and row.label]
        return await self.downstream.catalog.store_predictions(predictions)
