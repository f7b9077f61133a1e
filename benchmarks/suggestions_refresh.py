"""Suggestions refresh as a job: a full run, then an incremental one after more validations.

Starts its own system (embedded PostgreSQL, Qdrant Edge) in a temporary folder and ingests every
image of <class>/<image> folders unlabelled. Validates `--seed-per-class` images of each class
(one PUT /images/{id}/label each, which starts no refresh), then times a full refresh. Then
`--more` other images, picked at random, are validated the same way with their true class, and
an incremental refresh is timed. Last, a full refresh again: the suggestions it still changes are
the ones the incremental run missed (another taxon, or the confidence only: an
incremental run leaves the suggestions it does not re-score on the previous calibration).

    .venv/bin/python benchmarks/suggestions_refresh.py --data ../shared/data/ndsb [--json]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from pathlib import Path

import httpx

from nauplius.datasets import find_images
from nauplius.ingest import ingest
from nauplius.private_system import private_system
from nauplius.tasks import refresh_suggestions


def _ok(response: httpx.Response) -> dict:
    if response.is_error:
        raise RuntimeError(f"{response.request.url} answered {response.status_code}: {response.text[:300]}")
    return response.json()


def _all_ids(client: httpx.Client) -> dict[str, int]:
    """sha256 -> image id of every stored image."""
    ids, offset = {}, 0
    while True:
        page = _ok(client.get("/api/v1/images", params={"limit": 500, "offset": offset}))
        ids.update({image["sha256"]: image["id"] for image in page["data"]})
        offset += 500
        if offset >= page["count"]:
            return ids


def _suggestions(client: httpx.Client) -> dict[int, tuple[str, float]]:
    """id -> (suggested taxon, confidence) of every image with a suggestion."""
    found, offset = {}, 0
    while True:
        page = _ok(client.get("/api/v1/images", params={"state": "predicted", "limit": 500,
                                                        "offset": offset}))
        found.update({i["id"]: (i["label"], i["label_confidence"]) for i in page["data"]})
        offset += 500
        if offset >= page["count"]:
            return found


def _idle(client: httpx.Client) -> None:
    while _ok(client.get("/api/v1/jobs", params={"running": "true"}))["data"]:
        time.sleep(0.5)


def _timed_refresh(client: httpx.Client, mode: str) -> dict:
    started = time.perf_counter()
    result = refresh_suggestions(client, mode, progress=True)
    wall = time.perf_counter() - started
    return {"mode": result["mode"], "seconds": round(wall, 1), "images_rescored": result["images"],
            "validated_revoted": result["revoted"], "suggestions_changed": result["changed"],
            "calibrated_on": result["calibrated_on"]}


def run(data: Path, seed_per_class: int, more: int, seed: int) -> dict:
    images = find_images([data], label_from_folder=True)
    truth = {hashlib.sha256(i.path.read_bytes()).hexdigest(): i.taxon for i in images}
    rng = random.Random(seed)
    with private_system("nauplius-refresh-") as system, system.client(timeout_s=3600) as client:
        started = time.perf_counter()
        report = ingest([data], system.url, api_key=system.api_key)
        ingest_s = time.perf_counter() - started
        taxa = "name,rank,parent,aphia_id\n" + "".join(f"{t},,,\n" for t in sorted(set(truth.values())))
        _ok(client.post("/api/v1/taxa/import", content=taxa.encode()))
        by_class: dict[str, list[int]] = {}
        for sha, image_id in _all_ids(client).items():
            by_class.setdefault(truth[sha], []).append(image_id)
        seeds: set[int] = set()
        for label, ids in sorted(by_class.items()):
            picked = rng.sample(sorted(ids), min(seed_per_class, len(ids)))
            seeds.update(picked)
            for image_id in picked:  # one by one: a single label starts no refresh
                _ok(client.put(f"/api/v1/images/{image_id}/label", json={"taxon": label}))
        _idle(client)
        full = _timed_refresh(client, "full")
        label_of = {i: label for label, ids in by_class.items() for i in ids}
        rest = sorted(set(label_of) - seeds)
        for image_id in rng.sample(rest, more):
            _ok(client.put(f"/api/v1/images/{image_id}/label", json={"taxon": label_of[image_id]}))
        _idle(client)
        incremental = _timed_refresh(client, "incremental")
        after_incremental = _suggestions(client)
        check = _timed_refresh(client, "full")
        after_full = _suggestions(client)
    common = after_incremental.keys() & after_full.keys()
    missed = {"taxon": sum(after_incremental[i][0] != after_full[i][0] for i in common),
              "confidence_only": sum(after_incremental[i][0] == after_full[i][0]
                                     and after_incremental[i][1] != after_full[i][1] for i in common)}
    return {"images": len(images), "stored": report.stored, "ingest_s": round(ingest_s, 1),
            "validated_seeds": len(seeds), "more_validated": more, "full": full,
            "incremental": incremental, "full_after": check,
            "missed_by_incremental": check["suggestions_changed"], "missed": missed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder of <class>/<image>")
    parser.add_argument("--seed-per-class", type=int, default=5)
    parser.add_argument("--more", type=int, default=50, help="validations before the incremental run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.data, args.seed_per_class, args.more, args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['stored']} images ingested in {result['ingest_s']} s; "
          f"{result['validated_seeds']} validated ({args.seed_per_class} per class)")
    for name in ("full", "incremental", "full_after"):
        run_ = result[name]
        print(f"{name:>12}: {run_['seconds']:7.1f} s, {run_['images_rescored']} images re-scored, "
              f"{run_['validated_revoted']} validated re-voted, {run_['suggestions_changed']} "
              f"suggestions changed (calibrated on {run_['calibrated_on']})")
    print(f"suggestions the incremental run missed (changed by the full run after it): "
          f"{result['missed_by_incremental']}: {result['missed']['taxon']} another taxon, "
          f"{result['missed']['confidence_only']} the confidence only")


if __name__ == "__main__":
    main()
