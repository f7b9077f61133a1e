"""Are suggestion confidences calibrated? A reliability table on held-out images, real system.

Starts its own system (embedded PostgreSQL, Qdrant Edge) in a temporary folder; ingests a random
`--validated` share of each class of <class>/<image> folders as validated labels (admin key,
folder names) and the rest unlabelled; `POST /api/v1/suggestions/refresh` fits the calibration
on the validated images; then every unlabelled image's suggestion is scored against its folder
name (right when it is the true taxon or an ancestor of it; the tree here is flat).

    .venv/bin/python benchmarks/calibration.py --data ../shared/data/zoolake [--limit 2000] [--json]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

import httpx

from nauplius.core.suggestions import reliability_table
from nauplius.ingest import ingest
from nauplius.private_system import private_system
from nauplius.tasks import refresh_suggestions
from nauplius.training.datasets import find_images


def _link(images, folder: Path) -> None:
    for i, image in enumerate(images):
        target = folder / image.label / f"{i}-{image.path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(image.path.resolve())


def _all(client: httpx.Client, state: str) -> list[dict]:
    images, offset = [], 0
    while True:
        page = client.get("/api/v1/images", params={"state": state, "limit": 500, "offset": offset})
        page.raise_for_status()
        images += page.json()["data"]
        offset += 500
        if offset >= page.json()["count"]:
            return images


def run(data: Path, limit: int | None, validated_share: float, seed: int) -> dict:
    images = find_images([data], label_from_folder=True)
    random.Random(seed).shuffle(images)
    images = images[:limit] if limit else images
    with private_system("nauplius-calibration-") as system:
        data_dir = system.data_dir
        suggested: dict[str, dict] = {}
        by_class: dict[str, list] = {}
        for image in images:
            by_class.setdefault(image.taxon, []).append(image)
        seeds, held_out = [], []
        for members in by_class.values():
            cut = max(1, round(len(members) * validated_share))
            seeds += members[:cut]
            held_out += members[cut:]
        _link(seeds, data_dir / "validated")
        _link(held_out, data_dir / "unlabelled")
        ingest([data_dir / "validated"], system.url, label_from_folder=True, api_key=system.api_key)
        ingest([data_dir / "unlabelled"], system.url, api_key=system.api_key)
        with system.client(timeout_s=3600) as client:
            refreshed = refresh_suggestions(client)
            for shown in _all(client, "predicted") + _all(client, "unlabelled"):
                suggested[shown["sha256"]] = shown
    sha_label = {hashlib.sha256(i.path.read_bytes()).hexdigest(): i.label for i in held_out}
    pairs = [(i["label_confidence"], i["label"] == sha_label[sha])
             for sha, i in suggested.items() if i["label_state"] == "predicted"]
    return {
        "images": len(images), "validated": len(seeds), "held_out": len(held_out),
        "suggested": len(pairs), "accuracy": round(sum(ok for _, ok in pairs) / max(1, len(pairs)), 3),
        "held_out_reliability": reliability_table(pairs),
        "refresh_reliability": refreshed["reliability"],
        "refresh_calibrated_on": refreshed["calibrated_on"],
    }


def _table(rows: list[dict]) -> str:
    lines = ["| confidence | images | mean confidence | observed accuracy |", "|---|---|---|---|"]
    lines += [f"| {r['low']:.2f}-{r['high']:.2f} | {r['n']} | {r['mean_confidence']:.3f} | "
              f"{r['accuracy']:.3f} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder of <class>/<image>")
    parser.add_argument("--limit", type=int, help="at most this many images (random sample)")
    parser.add_argument("--validated", type=float, default=0.5, help="share of each class validated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.data, args.limit, args.validated, args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['images']} images: {result['validated']} validated, {result['suggested']} "
          f"held-out images suggested, accuracy {result['accuracy']}")
    print("\nHeld-out (unlabelled at refresh, scored against folder names):")
    print(_table(result["held_out_reliability"]))
    print(f"\nLeave-one-out on the validated images (odd ids, calibration fitted on even ids; "
          f"n={result['refresh_calibrated_on']}):")
    print(_table(result["refresh_reliability"]))


if __name__ == "__main__":
    main()
