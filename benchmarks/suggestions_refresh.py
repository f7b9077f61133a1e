"""Suggestions refresh as a job, and one search query per image (before) against batches (after).

Starts its own system (embedded PostgreSQL, Qdrant Edge) in a temporary folder and loads it:
`--limit` real images of <class>/<image> folders (a seeded, class-stratified pick; all without
`--limit`) go through the ingest pipeline (`nauplius.core.pipeline.index_contents`: embedder,
catalog batch store, search upsert, as the worker runs it), unlabelled. With `--noise-per-image
M`, each real image also gets M synthetic neighbours: a catalog row (a 16x16 grey PNG unique to
it, through the catalog's batch store) whose vector is the real image's embedding plus seeded
Gaussian noise (`--noise`, relative to the vector's norm), renormalised, upserted through the
search service's bulk route, unlabelled. Validates `--seed-per-class` real images of each class
(one PUT /images/{id}/label each, which starts no refresh).

Then a first full refresh as a job writes every suggestion; once the index outbox has carried
them to the search service, side by side on the same system (none of these writes anything): a
full refresh with the code before batches (this file's BEFORE_REV of
nauplius/core/suggestion_refresh.py, one search query per image, run in this process), the same
with today's code (batched, in this process), and a full refresh as a job (the worker, batched);
the suggestions of the three must be identical. Then `--more` other images are validated with
their true class, an incremental refresh is timed, and a full refresh again: the suggestions it
still changes are the ones the incremental run missed.

    .venv/bin/python benchmarks/suggestions_refresh.py --data ../shared/data/ndsb [--limit N]
        [--noise-per-image M] [--json]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import subprocess
import sys
import time
import types
import zlib
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from nauplius.core.active_model import ActiveModel
from nauplius.core.clients import Downstream, FilePart
from nauplius.core.contracts.search import PointIn
from nauplius.core.index_sync import payload_of
from nauplius.core.pipeline import Content, index_contents
from nauplius.core.service_auth import SERVICE_KEY_HEADER
from nauplius.core.suggestion_refresh import Refresher
from nauplius.private_system import PrivateSystem, private_system
from nauplius.tasks import refresh_suggestions
from nauplius.training.datasets import ImageFile, find_images

# The last commit whose refresh made one search query per image.
BEFORE_REV = "5e15334"
LOAD_BATCH = 64  # real images per pipeline call
NOISE_BATCH = 256  # synthetic rows per catalog store and search upsert


def _ok(response: httpx.Response) -> dict:
    if response.is_error:
        raise RuntimeError(f"{response.request.url} answered {response.status_code}: {response.text[:300]}")
    return response.json()


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
    return _figures(time.perf_counter() - started, result)


def _png(n: int) -> bytes:
    """A 16x16 8-bit grey PNG whose pixels spell n: a content of its own for each synthetic row."""
    pixels = (n.to_bytes(8, "little") * 32)[:256]
    raw = b"".join(b"\x00" + pixels[row * 16:(row + 1) * 16] for row in range(16))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    header = (16).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def _async_client() -> httpx.AsyncClient:
    """Idle connections dropped after 2 s, before uvicorn's 5 s keep-alive closes them under a
    request sent on them (httpx.ReadError)."""
    return httpx.AsyncClient(timeout=3600, limits=httpx.Limits(keepalive_expiry=2.0))


def _downstream(system: PrivateSystem, http: httpx.AsyncClient) -> Downstream:
    urls = {name: system.stack.services[name].url for name in ("embedder", "search", "catalog")}
    key = system.stack.service_headers()[SERVICE_KEY_HEADER]
    return Downstream.over(http, urls["embedder"], urls["search"], urls["catalog"], service_key=key)


def _pick(images: list[ImageFile], limit: int | None, rng: random.Random) -> list[ImageFile]:
    """`limit` images, every class in proportion (at least one each), or all of them."""
    if limit is None or limit >= len(images):
        return images
    by_class: dict[str, list[ImageFile]] = {}
    for image in images:
        by_class.setdefault(image.taxon or "", []).append(image)
    share = limit / len(images)
    return [i for group in by_class.values()
            for i in rng.sample(group, max(1, round(share * len(group))))]


async def _load(system: PrivateSystem, images: list[ImageFile], noise_per_image: int,
                noise: float, seed: int) -> tuple[dict[int, str], dict[int, str], float]:
    """Load the system; (real image id -> class, synthetic row id -> class, seconds)."""
    started = time.perf_counter()
    real: dict[int, str] = {}
    synthetic: dict[int, str] = {}
    rng = np.random.default_rng(seed)
    async with _async_client() as http:
        downstream = _downstream(system, http)
        model = await ActiveModel(downstream).get()
        vectors: list[tuple[np.ndarray, str]] = []
        for start in range(0, len(images), LOAD_BATCH):
            contents = []
            for image in images[start:start + LOAD_BATCH]:
                data = image.path.read_bytes()
                contents.append(Content(FilePart(image.path.name, "image/jpeg", data),
                                        hashlib.sha256(data).hexdigest()))
            await index_contents(contents, downstream, model, concurrency=2)
            for content, image in zip(contents, images[start:start + LOAD_BATCH], strict=True):
                if content.image is None or content.duplicate or content.vector_b64 is None:
                    continue
                real[content.image.id] = image.taxon or ""
                vector = np.frombuffer(base64.b64decode(content.vector_b64), dtype="<f4")
                vectors.append((vector, image.taxon or ""))
            print(f"  {len(real)} real images loaded", file=sys.stderr)
        planned = [(v, t) for v, t in vectors for _ in range(noise_per_image)]
        for start in range(0, len(planned), NOISE_BATCH):
            batch = planned[start:start + NOISE_BATCH]
            files: list[tuple[FilePart, dict[str, Any]]] = [
                (FilePart(f"synthetic-{start + n}.png", "image/png", _png(start + n)), {})
                for n in range(len(batch))]
            stored = await downstream.catalog.store_many(files)
            points = []
            for (vector, taxon), result in zip(batch, stored, strict=True):
                if isinstance(result, str):
                    raise RuntimeError(f"the catalog refused a synthetic row: {result}")
                moved = vector + rng.normal(0.0, noise * float(np.linalg.norm(vector)) /
                                            np.sqrt(vector.size), vector.size)
                moved = (moved / np.linalg.norm(moved)).astype("<f4")
                points.append(PointIn(id=result.image.id,
                                      vector_b64=base64.b64encode(moved.tobytes()).decode(),
                                      payload=payload_of(result.image)))
                synthetic[result.image.id] = taxon
            await downstream.search.upsert(model.name, points)
            await downstream.catalog.mark_indexed_many([p.id for p in points], model.name)
            if (start // NOISE_BATCH) % 20 == 0:
                print(f"  {len(synthetic)} synthetic rows loaded", file=sys.stderr)
    return real, synthetic, time.perf_counter() - started


def _index_settled(system: PrivateSystem, image_id: int) -> None:
    """Wait out the HNSW build Edge starts after 5 s of write quiet (it holds the GIL, so the
    search service answers nothing meanwhile): until three queries in a row answer within 0.5 s."""
    headers = system.stack.service_headers()
    model = httpx.get(f"{system.stack.services['embedder'].url}/v1/model", headers=headers).json()
    url = f"{system.stack.services['search'].url}/v1/collections/{model['name']}/query"
    time.sleep(6)
    fast = 0
    while fast < 3:
        started = time.perf_counter()
        httpx.post(url, json={"id": image_id, "k": 10}, headers=headers, timeout=3600).raise_for_status()
        fast = fast + 1 if time.perf_counter() - started < 0.5 else 0


def _refresher_before() -> type[Refresher]:
    """The Refresher of BEFORE_REV, loaded from git as a module of its own."""
    source = subprocess.run(["git", "show", f"{BEFORE_REV}:nauplius/core/suggestion_refresh.py"],
                            capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parent.parent).stdout
    module = types.ModuleType("suggestion_refresh_before")
    sys.modules[module.__name__] = module
    exec(compile(source, f"{BEFORE_REV}:nauplius/core/suggestion_refresh.py", "exec"), module.__dict__)
    refresher: type[Refresher] = module.Refresher
    return refresher


async def _in_process(system: PrivateSystem, refresher: type[Refresher]) -> tuple[dict, dict]:
    """A full refresh run here over the system's services: its figures and the suggestions."""
    async def no_progress(done: int | None, total: int | None) -> None:
        return None

    async with _async_client() as http:
        downstream = _downstream(system, http)
        model = await ActiveModel(downstream).get()
        started = time.perf_counter()
        report = await refresher(downstream, model.name, None, no_progress).run(incremental=False)
        wall = time.perf_counter() - started
        suggested = {row.id: (row.label, row.confidence, row.share)
                     for row in await downstream.catalog.suggested(None)}
    return _figures(wall, report.public()), suggested


def _figures(wall: float, result: dict) -> dict:
    return {"mode": result["mode"], "seconds": round(wall, 1),
            "images_rescored": result["images"], "validated_revoted": result["revoted"],
            "suggestions_changed": result["changed"], "calibrated_on": result["calibrated_on"],
            "images_per_s": round((result["images"] + result["revoted"]) / max(wall, 1e-9), 1)}


def run(data: Path, seed_per_class: int, more: int, seed: int, limit: int | None,
        noise_per_image: int, noise: float) -> dict:
    rng = random.Random(seed)
    images = _pick(find_images([data], label_from_folder=True), limit, rng)
    with private_system("nauplius-refresh-") as system, system.client(timeout_s=3600) as client:
        taxa = "name,rank,parent,aphia_id\n" + "".join(
            f"{t},,,\n" for t in sorted({i.taxon or "" for i in images}))
        _ok(client.post("/api/v1/taxa/import", content=taxa.encode()))
        real, synthetic, load_s = asyncio.run(_load(system, images, noise_per_image, noise, seed))
        by_class: dict[str, list[int]] = {}
        for image_id, label in real.items():
            by_class.setdefault(label, []).append(image_id)
        seeds: set[int] = set()
        for label, ids in sorted(by_class.items()):
            picked = rng.sample(sorted(ids), min(seed_per_class, len(ids)))
            seeds.update(picked)
            for image_id in picked:  # one by one: a single label starts no refresh
                _ok(client.put(f"/api/v1/images/{image_id}/label", json={"taxon": label}))
        _idle(client)
        _index_settled(system, next(iter(real)))
        # A first full run writes every suggestion (and the index outbox then carries each new
        # state to the search service); the runs compared after it write none, on a quiet index.
        first = _timed_refresh(client, "full")
        asyncio.run(_outbox_drained(system))
        before, suggested_before = asyncio.run(_in_process(system, _refresher_before()))
        after, suggested_after = asyncio.run(_in_process(system, Refresher))
        full = _timed_refresh(client, "full")
        suggested_job = asyncio.run(_in_process_snapshot(system))
        rest = sorted(set(real) - seeds)
        for image_id in rng.sample(rest, min(more, len(rest))):
            _ok(client.put(f"/api/v1/images/{image_id}/label", json={"taxon": real[image_id]}))
        _idle(client)
        incremental = _timed_refresh(client, "incremental")
        after_incremental = _suggestions(client)
        check = _timed_refresh(client, "full")
        after_full = _suggestions(client)
    common = after_incremental.keys() & after_full.keys()
    missed = {"taxon": sum(after_incremental[i][0] != after_full[i][0] for i in common),
              "confidence_only": sum(after_incremental[i][0] == after_full[i][0]
                                     and after_incremental[i][1] != after_full[i][1] for i in common)}
    return {"images": len(real) + len(synthetic), "real_images": len(real),
            "synthetic_rows": len(synthetic), "noise": noise, "load_s": round(load_s, 1),
            "validated_seeds": len(seeds), "more_validated": more,
            "first": first, "before_single_queries": before, "after_batched": after,
            "identical_suggestions": suggested_before == suggested_after == suggested_job,
            "full": full, "incremental": incremental, "full_after": check,
            "missed_by_incremental": check["suggestions_changed"], "missed": missed,
            "load_average": [round(x, 2) for x in os.getloadavg()]}


async def _outbox_drained(system: PrivateSystem) -> None:
    async with _async_client() as http:
        catalog = _downstream(system, http).catalog
        for _ in range(7200):  # an hour at most
            if not await catalog.outbox_pending():
                return
            await asyncio.sleep(0.5)


async def _in_process_snapshot(system: PrivateSystem) -> dict:
    async with _async_client() as http:
        rows = await _downstream(system, http).catalog.suggested(None)
    return {row.id: (row.label, row.confidence, row.share) for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder of <class>/<image>")
    parser.add_argument("--seed-per-class", type=int, default=5)
    parser.add_argument("--more", type=int, default=50, help="validations before the incremental run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="real images to load (all by default)")
    parser.add_argument("--noise-per-image", type=int, default=0,
                        help="synthetic neighbours per real image (embedding + seeded noise)")
    parser.add_argument("--noise", type=float, default=0.3,
                        help="noise standard deviation relative to the vector's norm")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.data, args.seed_per_class, args.more, args.seed, args.limit,
                 args.noise_per_image, args.noise)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['images']} images ({result['real_images']} real, {result['synthetic_rows']} "
          f"synthetic) loaded in {result['load_s']} s; {result['validated_seeds']} validated "
          f"({args.seed_per_class} per class); identical suggestions: "
          f"{result['identical_suggestions']}; load average {result['load_average']}")
    for name in ("first", "before_single_queries", "after_batched", "full", "incremental", "full_after"):
        run_ = result[name]
        print(f"{name:>22}: {run_['seconds']:7.1f} s, {run_['images_per_s']:7.1f} images/s, "
              f"{run_['images_rescored']} re-scored, {run_['validated_revoted']} validated "
              f"re-voted, {run_['suggestions_changed']} changed (calibrated on "
              f"{run_['calibrated_on']})")
    print(f"suggestions the incremental run missed (changed by the full run after it): "
          f"{result['missed_by_incremental']}: {result['missed']['taxon']} another taxon, "
          f"{result['missed']['confidence_only']} the confidence only")


if __name__ == "__main__":
    main()
