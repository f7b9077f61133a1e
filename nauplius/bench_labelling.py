"""`nauplius bench labelling`: how many images does one labelling action validate?

An oracle annotator, who knows each image's true class from its folder name, works through the real
REST API of a private system (five processes, its own PostgreSQL and index, auth on with the admin
key). It ingests the set unlabelled, labels `seed_per_class` images of each class by hand (one action
each; none by default), then repeatedly takes the action the UI offers that confirms the most
images, until every image is validated:

- look at the first page (at most 50 images, core outwards) of the best cluster proposal and name
  its most common class in one action, while a cluster offers at least `min_group` images
  (reclustering once the queue is empty and labels have changed). When a suggestion group also
  offers `min_group` images, take whichever of the two views settled more images over its last
  YIELD_WINDOW pages (half a page expected of a view not yet tried), as a person who sees
  cluster pages run mixed turns to the review pages (`follow_yield`; off: clusters first);
- with `accept_unseen` only: accept a whole suggestion group above `accept_confidence` without
  looking at it (one action; its mistakes stay and count against precision), when the group holds
  at least `min_group` images and the confidences are calibrated on at least `min_calibrated`
  labels a person has looked at;
- otherwise look at one page of the largest suggestion group, most confident first, or, when
  nothing is suggested, the similar-image page of the first unvalidated image: confirm the images
  showing the page's most common class in one action. The other images stay for a later page
  (re-suggested from their newly validated neighbours, most come back in a group of their own
  class); `fix_on_page` fixes each of them at once instead, one action per image;
- once the largest suggestion group holds fewer than `min_group` images, sort a page of the
  unjudged images instead: the images whose own suggestion is right validated in one action
  (when they span two classes or more), then each class left on it named in one action;
- after judging a similar-image page with at least `refine_min_wrong` wrong images, refine it as
  the page's Refine does (one action: the wrong images it saw become "not like these", the ones
  just confirmed "more like these", at most 50 of each) and judge the refined page (one action),
  as long as refining keeps finding `refine_min_wrong` wrong images, at most MAX_REFINES times.

It never picks images by their true label: pages come from the UI's own queries and the truth is
only used to judge what a page shows. The set is ingested in a seeded random order, so the image
ids (the grid's "newest" order) follow no class folder. The one-image-per-action baseline labels
each image alone: one action per image, every label right.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from tqdm import tqdm

from nauplius.ingest import ingest
from nauplius.private_system import private_system
from nauplius.tasks import refresh_suggestions
from nauplius.training.datasets import find_images

PAGE = 50
# Rounds between suggestion refreshes (recalibration): often enough that the calibration soon
# learns from the pages a person has judged, as an annotator pressing "refresh" now and then would.
REFRESH_EVERY = 5
# Refinements of one similar-image page in a row, at most (each one a new page to look at).
MAX_REFINES = 3
# Pages of a view whose settled images make the person's expectation of its next page.
YIELD_WINDOW = 3
# A similar-image page is refined when it shows at least this many wrong images (0: never).
REFINE_MIN_WRONG = 10


def expected_yield(trace: list[tuple[str, int]], move: str) -> float:
    """What a person expects the next page of a view to settle: the mean of what its last
    YIELD_WINDOW pages settled, as they saw them; half a page for a view not yet tried."""
    seen = [images for name, images in trace if name == move][-YIELD_WINDOW:]
    return sum(seen) / len(seen) if seen else PAGE / 2


@dataclass
class Tally:
    images: int = 0
    actions: int = 0
    seed_actions: int = 0
    group_accepts: int = 0
    accepted_images: int = 0
    accepted_wrong: int = 0  # accepted images whose suggested taxon was not their class
    pages: int = 0
    page_confirms: int = 0
    page_fixes: int = 0
    suggestion_refreshes: int = 0
    refines: int = 0  # "more like these, not like those" re-queries of a judged similar page
    refined_pages: int = 0  # the refined pages judged (also counted in pages)
    refined_images: int = 0  # images confirmed on refined pages
    cluster_refreshes: int = 0  # clusters jobs run (Recluster; not an action, as refreshes)
    cluster_pages: int = 0  # first pages of the best cluster judged (also counted in pages)
    cluster_images: int = 0  # images confirmed on cluster pages
    sorted_pages: int = 0  # pages of leftovers sorted class by class (also counted in pages)
    sorted_actions: int = 0  # one per class named on a sorted page


class Oracle:
    def __init__(self, api: httpx.Client, truth: dict[int, str], accept_confidence: float,
                 min_group: int, min_calibrated: int, progress: tqdm,
                 fix_on_page: bool = False, refine_min_wrong: int = REFINE_MIN_WRONG,
                 clusters: bool = True, accept_unseen: bool = False,
                 follow_yield: bool = True) -> None:
        self.api = api
        self.clusters = clusters
        self.follow_yield = follow_yield
        self.accept_unseen = accept_unseen
        self._clustered_at: int | None = None  # validated count at the last clusters run
        self.truth = truth
        self.accept_confidence = accept_confidence
        self.min_group = min_group
        self.min_calibrated = min_calibrated
        self.fix_on_page = fix_on_page
        self.refine_min_wrong = refine_min_wrong
        self.calibrated_on = 0
        self.tally = Tally(images=len(truth))
        self.progress = progress
        self.trace: list[tuple[str, int]] = []  # (move, images it validated), one per action

    def call(self, method: str, path: str, **kwargs) -> dict:
        response = self.api.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def validated(self) -> int:
        return self.call("GET", "/api/v1/label-counts")["validated"]

    def show_progress(self) -> None:
        self.progress.n = self.validated()
        self.progress.set_postfix(actions=self.tally.actions, refresh=False)
        self.progress.refresh()

    # --- the actions, each one REST call ----------------------------------------------------
    def label_one(self, image_id: int, move: str = "fix") -> None:
        self.call("PUT", f"/api/v1/images/{image_id}/label",
                  json={"taxon": self.truth[image_id], "state": "validated"})
        self.tally.actions += 1
        self.trace.append((move, 1))

    def validate_as(self, image_ids: list[int], taxon: str) -> None:
        self.call("POST", "/api/v1/labels/batch",
                  json={"image_ids": image_ids, "taxon": taxon, "state": "validated"})

    def assign(self, image_ids: list[int], taxon: str, move: str) -> None:
        self.validate_as(image_ids, taxon)
        self.tally.actions += 1
        self.trace.append((move, len(image_ids)))

    def accept_group(self, taxon: str) -> int:
        result = self.call("POST", "/api/v1/suggestions/accept",
                           json={"taxon": taxon, "min_confidence": self.accept_confidence})
        self.tally.actions += 1
        self.trace.append(("accept", len(result["image_ids"])))
        self.tally.accepted_wrong += sum(self.truth[i] != taxon for i in result["image_ids"])
        return len(result["image_ids"])

    # --- the oracle -------------------------------------------------------------------------
    def seed(self, per_class: int, rng: random.Random) -> None:
        by_class: dict[str, list[int]] = {}
        for image_id, name in sorted(self.truth.items()):
            by_class.setdefault(name, []).append(image_id)
        for ids in by_class.values():
            for image_id in rng.sample(ids, min(per_class, len(ids))):
                self.label_one(image_id, "seed")
                self.tally.seed_actions += 1
        self.show_progress()

    def judge_page(self, image_ids: list[int], move: str) -> tuple[list[int], list[int]]:
        """Confirm the page's most common class in one action. The other images are fixed one
        action each only when `fix_on_page`; otherwise they are left for a later page, where,
        re-suggested from their freshly validated neighbours, they are most likely part of a
        majority confirmed in one action (a person would do the same: "those come up under
        their own taxon")."""
        if not image_ids:
            return [], []
        majority, _ = Counter(self.truth[i] for i in image_ids).most_common(1)[0]
        right = [i for i in image_ids if self.truth[i] == majority]
        wrong = [i for i in image_ids if self.truth[i] != majority]
        self.assign(right, majority, move)
        self.tally.pages += 1
        self.tally.page_confirms += 1
        if not self.fix_on_page:
            return right, wrong
        for image_id in wrong:
            self.label_one(image_id)
            self.tally.page_fixes += 1
        return right, []

    def refine(self, right: list[int], wrong: list[int]) -> None:
        """The page's Refine, judged: what it just confirmed are the examples, what it saw wrong
        the negatives; the refined page is judged as any other, and refined again while it
        still shows many wrong images."""
        negatives: list[int] = []
        for _ in range(MAX_REFINES):
            if not right or len(wrong) < self.refine_min_wrong:
                return
            negatives = (negatives + wrong)[-50:]
            # No state filter: the confirmation just made turned the page's neighbours from
            # unlabelled to predicted. Images already validated on it need nothing.
            page = self.call("POST", "/api/v1/similar", json={
                "image_ids": right[:50], "negative_ids": negatives, "limit": PAGE})["data"]
            page = [image for image in page if image["label_state"] != "validated"]
            self.tally.actions += 1
            self.trace.append(("refine", 0))
            self.tally.refines += 1
            right, wrong = self.judge_page([image["id"] for image in page], "refined page")
            self.tally.refined_pages += bool(page)
            self.tally.refined_images += len(right)

    def best_cluster(self) -> dict | None:
        """The queue's first cluster, when it offers at least `min_group` images. Reclusters when
        the queue is empty and labels changed since the last run (a run is not an action)."""
        queue = self.call("GET", "/api/v1/clusters", params={"project": 1})["data"]
        if not queue and self._clustered_at != self.validated():
            self._clustered_at = self.validated()
            self.call("POST", "/api/v1/clusters/refresh", params={"project": 1, "wait_s": 300})
            self.tally.cluster_refreshes += 1
            queue = self.call("GET", "/api/v1/clusters", params={"project": 1})["data"]
        if not queue or queue[0]["remaining"] < self.min_group:
            return None
        best: dict = queue[0]
        return best

    def cluster_page(self, best: dict) -> None:
        """Look at the first page of a cluster (core outwards) and confirm its most common class
        in one action (POST /clusters/{id}/name with those images)."""
        page = self.call("GET", f"/api/v1/clusters/{best['id']}/images",
                         params={"limit": PAGE})["data"]
        majority, _ = Counter(self.truth[image["id"]] for image in page).most_common(1)[0]
        right = [image["id"] for image in page if self.truth[image["id"]] == majority]
        self.call("POST", f"/api/v1/clusters/{best['id']}/name",
                  json={"taxon": majority, "image_ids": right})
        self.tally.actions += 1
        self.trace.append(("cluster page", len(right)))
        self.tally.pages += 1
        self.tally.cluster_pages += 1
        self.tally.cluster_images += len(right)

    def review_page(self, taxon: str) -> None:
        page = self.call("GET", "/api/v1/review", params={
            "taxon": taxon, "order": "confident", "limit": PAGE})["data"]
        self.judge_page([image["id"] for image in page], "review page")

    def sort_page(self) -> bool:
        """Once no cluster and no suggestion group offers `min_group` images, what is left is
        mostly odd ones out under wrong or scattered suggestions: look at a page of the unjudged
        images (the grid, predicted first). When the images whose own suggestion is right span
        at least two classes, validate them in one action (the page's Validate on the selected
        tiles keeps each one's own suggestion); then name each class left on it, one action each."""
        page: list[dict] = []
        for state in ("predicted", "unlabelled", "dubious"):
            if len(page) < PAGE:
                page += self.call("GET", "/api/v1/images", params={
                    "state": state, "limit": PAGE - len(page)})["data"]
        if not page:
            return False
        suggested_right = [image for image in page if image["label_state"] == "predicted"
                           and image["label"] == self.truth[image["id"]]]
        if len({image["label"] for image in suggested_right}) >= 2:
            self.confirm_own_suggestions(suggested_right)
            self.tally.sorted_actions += 1
            confirmed = {image["id"] for image in suggested_right}
            page = [image for image in page if image["id"] not in confirmed]
        by_class: dict[str, list[int]] = {}
        for image in page:
            by_class.setdefault(self.truth[image["id"]], []).append(image["id"])
        for taxon, ids in sorted(by_class.items(), key=lambda item: -len(item[1])):
            self.assign(ids, taxon, "sorted page")
            self.tally.sorted_actions += 1
        self.tally.pages += 1
        self.tally.sorted_pages += 1
        return True

    def confirm_own_suggestions(self, images: list[dict]) -> None:
        """One action: each image validated under its own suggestion, as the page's Validate
        does for the selected tiles (one labels/batch call per taxon)."""
        by_taxon: dict[str, list[int]] = {}
        for image in images:
            by_taxon.setdefault(image["label"], []).append(image["id"])
        for taxon, ids in by_taxon.items():
            self.validate_as(ids, taxon)
        self.tally.actions += 1
        self.trace.append(("own suggestions", len(images)))

    def refresh(self) -> None:
        self.calibrated_on = refresh_suggestions(self.api)["calibrated_on"]
        self.tally.suggestion_refreshes += 1

    def step(self) -> bool:
        """One round: the most productive action the UI offers. False once everything is validated."""
        groups = self.call("GET", "/api/v1/suggestions/groups",
                           params={"min_confidence": self.accept_confidence})
        groups = groups["data"] if isinstance(groups, dict) else groups
        trusted = self.calibrated_on >= self.min_calibrated
        confident = [g for g in groups if trusted and g["confident"] >= self.min_group]
        largest = max(groups, key=lambda g: g["images"]) if groups else None
        reviewable = largest is not None and largest["images"] >= self.min_group
        best = self.best_cluster() if self.clusters else None
        # Cluster pages and review pages are both pages a person sees and confirms; they take
        # the view whose recent pages settled more (`follow_yield`), or clusters while any last.
        # Accepting unseen groups before the clusters are used up let a calibration learnt from
        # a few classes' cluster pages (seed-per-class 0) accept 3,636 images at 0.36 precision.
        if best is not None and (not reviewable or not self.follow_yield
                                 or expected_yield(self.trace, "cluster page")
                                 >= expected_yield(self.trace, "review page")):
            self.cluster_page(best)
            return True
        if confident and self.accept_unseen:
            accepted = self.accept_group(confident[0]["taxon"])
            self.tally.group_accepts += 1
            self.tally.accepted_images += accepted
            return True
        if largest is not None and not reviewable:
            return self.sort_page()
        if largest is not None:
            self.review_page(largest["taxon"])
            return True
        for state in ("unlabelled", "dubious"):
            first = self.call("GET", "/api/v1/images", params={"state": state, "limit": 1})["data"]
            if first:
                example = first[0]["id"]
                similar = self.call("POST", "/api/v1/similar", json={
                    "image_ids": [example], "state": state, "limit": PAGE - 1})["data"]
                right, wrong = self.judge_page([example] + [image["id"] for image in similar],
                                               "similar page")
                if self.refine_min_wrong:
                    self.refine(right, wrong)
                return True
        return False

    def run(self, per_class: int, seed: int) -> Tally:
        self.seed(per_class, random.Random(seed))
        self.refresh()
        rounds_since_refresh = 0
        while self.step():
            rounds_since_refresh += 1
            # Validations refresh the suggestions around them; recalibrating now and then lets the
            # confidences learn from the growing set of validated images.
            if rounds_since_refresh >= REFRESH_EVERY:
                self.refresh()
                rounds_since_refresh = 0
            self.show_progress()
        return self.tally


def _moves(trace: list[tuple[str, int]]) -> dict[str, dict[str, int]]:
    """Where the actions went: per move, its actions and the images they validated."""
    moves: dict[str, dict[str, int]] = {}
    for move, images in trace:
        row = moves.setdefault(move, {"actions": 0, "images": 0})
        row["actions"] += 1
        row["images"] += images
    return moves


def _all_images(api: httpx.Client) -> list[dict]:
    images, offset = [], 0
    while True:
        page = api.get("/api/v1/images", params={"limit": 500, "offset": offset}).json()
        images += page["data"]
        offset += len(page["data"])
        if not page["data"] or offset >= page["count"]:
            return images


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(data: Path, seed_per_class: int = 0, accept_confidence: float = 0.95, min_group: int = 10,
        min_calibrated: int = 300, seed: int = 0, progress: bool = True,
        fix_on_page: bool = False, refine_min_wrong: int = REFINE_MIN_WRONG,
        clusters: bool = True, accept_unseen: bool = False, follow_yield: bool = True) -> dict:
    found = find_images([data], label_from_folder=True)
    truth_by_sha: dict[str, str] = {}
    for image in found:
        truth_by_sha.setdefault(_sha256(image.path), image.taxon)
    # $CATALOG_DATABASE_URL, when set, is used instead of an embedded PostgreSQL.
    with private_system("nauplius-bench-labelling-",
                        database_url=os.environ.get("CATALOG_DATABASE_URL")) as system:
        report = ingest([data], system.url, progress=progress, api_key=system.api_key,
                        shuffle_seed=seed)
        if report.errors:
            raise RuntimeError(f"{len(report.errors)} files were refused: {report.errors[:3]}")
        with system.client(timeout_s=600.0) as api:
            truth = {image["id"]: truth_by_sha[image["sha256"]] for image in _all_images(api)}
            with tqdm(total=len(truth), unit="image", desc="validated", disable=not progress,
                      file=sys.stderr) as bar:
                oracle = Oracle(api, truth, accept_confidence, min_group, min_calibrated, bar,
                                fix_on_page, refine_min_wrong, clusters, accept_unseen,
                                follow_yield)
                tally = oracle.run(seed_per_class, seed)
            final = _all_images(api)
    right = sum(image["label"] == truth[image["id"]] for image in final)
    unvalidated = sum(image["label_state"] != "validated" for image in final)
    return {
        "data": str(data), "images": len(truth), "classes": len(set(truth.values())),
        "seed_per_class": seed_per_class, "accept_confidence": accept_confidence,
        "min_group": min_group, "min_calibrated": min_calibrated, "fix_on_page": fix_on_page,
        "refine_min_wrong": refine_min_wrong, "clusters": clusters,
        "accept_unseen": accept_unseen, "follow_yield": follow_yield,
        "actions": tally.actions,
        "images_per_action": len(truth) / tally.actions,
        "label_precision": right / len(final), "unvalidated": unvalidated,
        "baseline": {"actions": len(truth), "images_per_action": 1.0, "label_precision": 1.0},
        "tally": asdict(tally),
        "moves": _moves(oracle.trace),
        "trace": oracle.trace,
    }


def main(args: argparse.Namespace) -> int:
    if not args.data.is_dir():
        print(f"not a folder: {args.data}", file=sys.stderr)
        return 2
    # Progress bars go to stderr, so --json keeps stdout to one object and still shows progress.
    result = run(args.data, args.seed_per_class, args.accept_confidence, args.min_group,
                 args.min_calibrated, args.seed, fix_on_page=args.fix_on_page,
                 refine_min_wrong=getattr(args, "refine_min_wrong", REFINE_MIN_WRONG),
                 clusters=not getattr(args, "no_clusters", False),
                 accept_unseen=getattr(args, "accept_unseen", False),
                 follow_yield=not getattr(args, "clusters_first", False))
    if args.json:
        print(json.dumps(result))
        return 0
    t = result["tally"]
    print(f"{result['images']} images, {result['classes']} classes, "
          f"{result['seed_per_class']} seeds per class")
    print(f"oracle:   {result['actions']} actions = {result['images_per_action']:.1f} images/action, "
          f"label precision {result['label_precision']:.3f}")
    print(f"          {t['seed_actions']} seed labels, {t['group_accepts']} unseen group accepts "
          f"({t['accepted_images']} images), {t['pages']} pages judged ({t['page_fixes']} fixes), "
          f"{t['suggestion_refreshes']} suggestion refreshes")
    print(f"          {t['refines']} refinements (more like these, not like those): "
          f"{t['refined_pages']} refined pages judged, {t['refined_images']} images confirmed")
    print(f"          {t['cluster_pages']} cluster pages ({t['cluster_images']} images confirmed), "
          f"{t['cluster_refreshes']} cluster runs")
    for move, row in result["moves"].items():
        print(f"          {move}: {row['actions']} actions, {row['images']} images")
    b = result["baseline"]
    print(f"baseline: {b['actions']} actions = {b['images_per_action']:.1f} images/action, "
          f"label precision {b['label_precision']:.3f}")
    return 0
