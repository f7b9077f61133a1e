"""`nauplius bench load`: mixed traffic from many concurrent clients against a private system,
the latency of each route, and a check at the end that every write is there.

Starts a private system (five processes, its own PostgreSQL and Qdrant Edge index, API keys on)
and ingests a few hundred real images through the real ingest path (`nauplius ingest`, labelled
validated by their folders). Every client gets an annotator of its own and an `annotator` key
(made through the admin API), then repeats, until the time is up, a weighted mix of what people
and instruments do on loopback: browse a grid page (and its thumbnails), similar images, query by
an uploaded image, a single label, a batch of labels, a small ingest job of new images (real
images re-encoded at another JPEG quality, so that their sha256 is new). Each client owns a share
of the seeded images and is the only one to label them, so it knows what each should end with.

Afterwards it waits for the ingest jobs to finish, then checks every write: each image a client
labelled carries the last label that client got a 2xx for; every image of every ingest job is
stored and indexed; and a reconcile job (catalog against the search service's points) finds no
image without a vector, no stray point and no stale payload.

The clients are asyncio tasks on httpx rather than locust users: locust's library mode runs on
gevent, which monkey-patches the sockets and threads of the whole process, and this process also
starts, watches and stops the private system (subprocesses, pgserver, signal handlers). httpx is
what the project's clients already use, and one client's sequence (write, then remember what it
got a 2xx for) stays plain code.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from nauplius.core.contracts.gateway import gateway_headers
from nauplius.ingest import ingest
from nauplius.private_system import PrivateSystem, private_system
from nauplius.reconcile import KINDS
from nauplius.tasks import follow_task
from nauplius.training.datasets import find_images

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ndsb"
# The share of each action in the mix; a browse also fetches THUMBNAILS of its page.
MIX = {"browse": 30, "similar": 20, "search": 10, "label": 20, "labels_batch": 8,
       "ingest_job": 4}
THUMBNAILS = 6
PAGE = 50
INGEST_FILES = 3  # new images per ingest job
BATCH_LABELS = (2, 8)  # images per batch label, at least and at most
THINK_S = 1.0  # a client waits up to this long (uniform) between two actions, as a person does
REQUEST_TIMEOUT_S = 120.0
# A client drops an idle connection well before the server does: with both at 5 s (httpx's and
# uvicorn's defaults), a request could go out on a connection the server was closing that instant
# (a ReadError before any answer, seen on 6 of 9,987 thumbnails under load). The stack's services
# now keep one 30 s (nauplius.stack.KEEP_ALIVE_S); this stays for a gateway run another way.
KEEPALIVE_S = 2.0
SETTLE_TIMEOUT_S = 600.0  # how long the ingest jobs may take to finish after the traffic stops
QUERY_FILES = 50
LABEL_STATES = ("validated", "dubious")


@dataclass
class Route:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0


class Recorder:
    """Every request's latency and outcome, by route name."""

    def __init__(self) -> None:
        self.routes: defaultdict[str, Route] = defaultdict(Route)
        self.examples: list[str] = []  # the first few errors, to say what went wrong

    def error(self, route: str, what: str) -> None:
        self.routes[route].errors += 1
        if len(self.examples) < 10:
            self.examples.append(f"{route}: {what}")

    async def call(self, http: httpx.AsyncClient, route: str, method: str, url: str,
                   **kwargs: Any) -> httpx.Response | None:
        """The response when it is a 2xx, else None (the error is counted)."""
        started = time.perf_counter()
        try:
            response = await http.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            self.routes[route].latencies_ms.append((time.perf_counter() - started) * 1000)
            self.error(route, f"{type(error).__name__}: {error}")
            return None
        self.routes[route].latencies_ms.append((time.perf_counter() - started) * 1000)
        if not response.is_success:
            self.error(route, f"{method} {url} answered {response.status_code}: "
                       f"{response.text[:200]}")
            return None
        return response

    def summary(self) -> dict[str, dict[str, float | int]]:
        return {name: {"count": len(route.latencies_ms), "errors": route.errors,
                       "p50_ms": _percentile(route.latencies_ms, 50),
                       "p95_ms": _percentile(route.latencies_ms, 95),
                       "p99_ms": _percentile(route.latencies_ms, 99)}
                for name, route in sorted(self.routes.items())}


def _percentile(values: list[float], p: float) -> float:
    return round(float(np.percentile(values, p)), 1) if values else 0.0


def fresh_images(paths: list[Path], known: set[str]) -> Iterator[tuple[str, bytes]]:
    """Real images re-encoded at another JPEG quality, each with bytes no one has sent yet."""
    for quality in range(94, 50, -3):
        for path in paths:
            image = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
            if image is None:
                continue
            ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                continue
            data = encoded.tobytes()
            sha256 = hashlib.sha256(data).hexdigest()
            if sha256 not in known:
                known.add(sha256)
                yield f"{path.stem}-q{quality}.jpg", data
    raise RuntimeError("ran out of images to derive new ones from")


@dataclass
class Traffic:
    """What every client draws on."""

    image_ids: list[int]  # the seeded images, for reads
    taxa: list[str]
    query_files: list[tuple[str, bytes]]
    fresh: Iterator[tuple[str, bytes]]
    jobs: dict[int, list[str]] = field(default_factory=dict)  # ingest job id -> sha256 sent


@dataclass
class LoadClient:
    http: httpx.AsyncClient
    owned: list[int]  # the images only this client labels
    traffic: Traffic
    recorder: Recorder
    rng: random.Random
    # image id -> the last (taxon, state) this client got a 2xx for
    written: dict[int, tuple[str, str]] = field(default_factory=dict)
    # images whose last write had no 2xx: their label is not known (that write is an error)
    uncertain: set[int] = field(default_factory=set)

    async def run(self, deadline: float) -> None:
        actions = list(MIX)
        weights = list(MIX.values())
        while time.perf_counter() < deadline:
            action = self.rng.choices(actions, weights)[0]
            if action in ("label", "labels_batch") and not self.owned:
                action = "browse"
            await getattr(self, action)()
            await asyncio.sleep(self.rng.uniform(0, THINK_S))

    async def browse(self) -> None:
        params: dict[str, str | int] = {
            "limit": PAGE, "offset": self.rng.randrange(max(1, len(self.traffic.image_ids) - PAGE))}
        if self.rng.random() < 0.3:
            params["taxon"] = self.rng.choice(self.traffic.taxa)
        page = await self.recorder.call(self.http, "browse", "GET", "/api/v1/images", params=params)
        if page is None:
            return
        shown = [image["id"] for image in page.json()["data"][:THUMBNAILS]]
        await asyncio.gather(*(self.recorder.call(
            self.http, "thumbnail", "GET", f"/api/v1/images/{image_id}/thumbnail")
            for image_id in shown))

    async def similar(self) -> None:
        image_id = self.rng.choice(self.traffic.image_ids)
        await self.recorder.call(self.http, "similar", "GET", f"/api/v1/images/{image_id}/similar",
                                 params={"k": 20})

    async def search(self) -> None:
        name, data = self.rng.choice(self.traffic.query_files)
        await self.recorder.call(self.http, "search", "POST", "/api/v1/search", params={"k": 20},
                                 files={"file": (name, data, "image/jpeg")})

    def _wrote(self, image_ids: list[int], taxon: str, state: str, answered: bool) -> None:
        for image_id in image_ids:
            if answered:
                self.written[image_id] = (taxon, state)
                self.uncertain.discard(image_id)
            else:
                self.uncertain.add(image_id)

    async def label(self) -> None:
        image_id = self.rng.choice(self.owned)
        taxon, state = self.rng.choice(self.traffic.taxa), self.rng.choice(LABEL_STATES)
        answer = await self.recorder.call(self.http, "label", "PUT", f"/api/v1/images/{image_id}/label",
                                          json={"taxon": taxon, "state": state})
        self._wrote([image_id], taxon, state, answer is not None)

    async def labels_batch(self) -> None:
        image_ids = self.rng.sample(self.owned, min(len(self.owned), self.rng.randint(*BATCH_LABELS)))
        taxon, state = self.rng.choice(self.traffic.taxa), self.rng.choice(LABEL_STATES)
        answer = await self.recorder.call(self.http, "labels_batch", "POST", "/api/v1/labels/batch",
                                          json={"image_ids": image_ids, "taxon": taxon,
                                                "state": state})
        self._wrote(image_ids, taxon, state, answer is not None)

    async def ingest_job(self) -> None:
        images = [next(self.traffic.fresh) for _ in range(INGEST_FILES)]
        answer = await self.recorder.call(
            self.http, "ingest_job", "POST", "/api/v1/jobs",
            files=[("files", (name, data, "image/jpeg")) for name, data in images])
        if answer is not None:
            self.traffic.jobs[answer.json()["id"]] = [hashlib.sha256(data).hexdigest()
                                                      for _, data in images]


def _all_images(api: httpx.Client) -> list[dict]:
    images: list[dict] = []
    while True:
        page = api.get("/api/v1/images", params={"limit": 500, "offset": len(images)})
        page.raise_for_status()
        images += page.json()["data"]
        if not page.json()["data"] or len(images) >= page.json()["count"]:
            return images


def _make_clients(api: httpx.Client, system: PrivateSystem, count: int, traffic: Traffic,
                  recorder: Recorder, seed: int) -> list[LoadClient]:
    """One annotator with an annotator key per client, each owning every count-th seeded image."""
    clients = []
    for number in range(count):
        annotator = api.post("/api/v1/annotators",
                             json={"name": f"load client {number}", "institution": "bench"})
        annotator.raise_for_status()
        key = api.post("/api/v1/api-keys",
                       json={"annotator_id": annotator.json()["id"], "role": "annotator"})
        key.raise_for_status()
        http = httpx.AsyncClient(base_url=system.url, timeout=REQUEST_TIMEOUT_S,
                                 limits=httpx.Limits(keepalive_expiry=KEEPALIVE_S),
                                 headers=gateway_headers(key.json()["key"]))
        clients.append(LoadClient(http, traffic.image_ids[number::count], traffic, recorder,
                                  random.Random(seed * 1000 + number)))
    return clients


async def _drive(clients: list[LoadClient], seconds: float) -> float:
    """Every client at once until the time is up; answers the seconds it took."""
    started = time.perf_counter()
    try:
        await asyncio.gather(*(client.run(started + seconds) for client in clients))
    finally:
        for client in clients:
            await client.http.aclose()
    return time.perf_counter() - started


def _settle_jobs(api: httpx.Client, jobs: dict[int, list[str]], recorder: Recorder) -> set[int]:
    """Wait for every ingest job to finish; answers the jobs that finished with every item in.
    A failed item is an error; a job still open after SETTLE_TIMEOUT_S is one too."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    pending, complete = set(jobs), set()
    while pending and time.monotonic() < deadline:
        for job_id in sorted(pending):
            status = api.get(f"/api/v1/jobs/{job_id}").json()
            if not status["finished"]:
                continue
            pending.discard(job_id)
            for failed in status["errors"]:
                recorder.error("ingest_item", f"job {job_id}: {failed['source']}: {failed['error']}")
            if status["counts"]["failed"] == 0:
                complete.add(job_id)
        if pending:
            time.sleep(0.5)
    for job_id in sorted(pending):
        recorder.error("ingest_item", f"job {job_id} did not finish within {SETTLE_TIMEOUT_S:.0f} s")
    return complete


def _reconcile(api: httpx.Client) -> dict:
    answer = api.post("/api/v1/reconcile", json={"repair": False})
    answer.raise_for_status()
    status = follow_task(api, answer.json()["id"], progress=False)
    if status["task"]["status"] != "done":
        raise RuntimeError(f"reconcile job {status['id']} failed: {status['task']['error']}")
    return status["task"]["result"]


@dataclass
class WriteCheck:
    checked: int = 0
    missing: list[str] = field(default_factory=list)

    def expect(self, ok: bool, what: str) -> None:
        self.checked += 1
        if not ok:
            self.missing.append(what)


def check_writes(api: httpx.Client, clients: list[LoadClient], jobs: dict[int, list[str]],
                 complete: set[int]) -> tuple[WriteCheck, dict]:
    """Every label a client got a 2xx for is the image's current label (no client labels
    another's images, so none supersedes it); every image of a complete ingest job is stored
    and indexed; catalog and search index agree (reconcile)."""
    check = WriteCheck()
    images = _all_images(api)
    by_id = {image["id"]: image for image in images}
    for client in clients:
        for image_id, (taxon, state) in sorted(client.written.items()):
            if image_id in client.uncertain:
                continue
            labelled = by_id.get(image_id, {})
            found = (labelled.get("label"), labelled.get("label_state"))
            check.expect(found == (taxon, state),
                         f"image {image_id}: labelled {taxon!r} {state}, now {found}")
    by_sha = {image["sha256"]: image for image in images}
    for job_id in sorted(complete):
        for sha256 in jobs[job_id]:
            image = by_sha.get(sha256)
            check.expect(image is not None and image["indexed_model"] is not None,
                         f"job {job_id}: {sha256[:12]} " + ("not indexed" if image else "not stored"))
    report = _reconcile(api)
    check.expect(report["catalog_images"] == len(images) == report["index_points"],
                 f"{len(images)} images listed, reconcile counts {report['catalog_images']} in the "
                 f"catalog and {report['index_points']} index points")
    for kind in KINDS:
        check.expect(report[kind] == 0, f"reconcile: {report[kind]} {kind} "
                     f"(e.g. {report['examples'][kind]})")
    return check, report


def _seed_sample(data: Path, count: int, seed: int) -> tuple[list[Path], list[Path]]:
    """A seeded sample of `count` images to seed with, and the rest (to derive new ones from)."""
    paths = [image.path for image in find_images([data])]
    if len(paths) < count + QUERY_FILES:
        raise ValueError(f"{data} holds {len(paths)} images; the bench needs at least "
                         f"{count + QUERY_FILES}")
    random.Random(seed).shuffle(paths)
    return sorted(paths[:count]), paths[count:]


def run(data: Path = DEFAULT_DATA, clients: int = 50, minutes: float = 5.0,
        seed_images: int = 300, seed: int = 0, database_url: str | None = None,
        progress: bool = True) -> dict:
    seeded, others = _seed_sample(data, seed_images, seed)
    query_files = [(path.name, path.read_bytes()) for path in others[:QUERY_FILES]]
    known = {hashlib.sha256(path.read_bytes()).hexdigest() for path in seeded + others}
    recorder = Recorder()
    with private_system("nauplius-bench-load-", database_url=database_url) as system, \
            system.client() as api:
        report = ingest(seeded, system.url, label_from_folder=True, progress=progress,
                        api_key=system.api_key)
        if report.errors:
            raise RuntimeError(f"seeding refused {len(report.errors)} images: {report.errors[:3]}")
        taxa = [taxon["name"] for taxon in api.get("/api/v1/taxa").json()["data"]]
        traffic = Traffic([image["id"] for image in _all_images(api)], taxa, query_files,
                          fresh_images(others, known))
        load = _make_clients(api, system, clients, traffic, recorder, seed)
        if progress:
            print(f"{clients} clients for {minutes:g} min on {len(traffic.image_ids)} images",
                  file=sys.stderr)
        seconds = asyncio.run(_drive(load, minutes * 60))
        load_average = [round(x, 2) for x in os.getloadavg()]
        routes = recorder.summary()  # the traffic only, before the settling and checks
        requests = sum(route["count"] for route in routes.values())
        complete = _settle_jobs(api, traffic.jobs, recorder)
        check, reconciled = check_writes(api, load, traffic.jobs, complete)
    return {
        "routes": routes,
        "errors": sum(route.errors for route in recorder.routes.values()),
        "error_examples": recorder.examples,
        "requests": requests,
        "requests_per_s": round(requests / seconds, 1),
        "seconds": round(seconds, 1),
        "writes_checked": check.checked,
        "writes_missing": len(check.missing),
        "missing_examples": check.missing[:10],
        "clients": clients,
        "minutes": minutes,
        "seed_images": len(traffic.image_ids),
        "ingest_jobs": len(traffic.jobs),
        "catalog_images": reconciled["catalog_images"],
        "index_points": reconciled["index_points"],
        "cores": os.cpu_count(),
        "load_average": load_average,
    }


def format_report(result: dict) -> str:
    lines = [f"{'route':<14}{'count':>8}{'errors':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}"]
    for name, route in result["routes"].items():
        lines.append(f"{name:<14}{route['count']:>8}{route['errors']:>8}{route['p50_ms']:>10}"
                     f"{route['p95_ms']:>10}{route['p99_ms']:>10}")
    lines.append(f"{result['requests']} requests from {result['clients']} clients in "
                 f"{result['seconds']} s = {result['requests_per_s']} requests/s; load average "
                 f"{' '.join(map(str, result['load_average']))} on {result['cores']} cores")
    lines.append(f"errors: {result['errors']}")
    lines += [f"  {example}" for example in result["error_examples"]]
    lines.append(f"writes checked: {result['writes_checked']}, missing: {result['writes_missing']} "
                 f"({result['catalog_images']} images in the catalog, {result['index_points']} "
                 f"points in the index, {result['ingest_jobs']} ingest jobs)")
    lines += [f"  {example}" for example in result["missing_examples"]]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    if args.clients < 1 or args.minutes <= 0 or args.seed_images < 1:
        print("nauplius bench load: --clients, --minutes and --seed-images must be positive",
              file=sys.stderr)
        return 2
    data = args.data or DEFAULT_DATA
    if not data.is_dir():
        print(f"nauplius bench load: not a folder: {data}", file=sys.stderr)
        return 2
    try:
        result = run(data, args.clients, args.minutes, args.seed_images, args.seed,
                     database_url=os.environ.get("CATALOG_DATABASE_URL"))
    except ValueError as error:
        print(f"nauplius bench load: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else format_report(result))
    return 1 if result["errors"] or result["writes_missing"] else 0
