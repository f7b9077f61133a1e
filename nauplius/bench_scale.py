"""`nauplius bench scale --images N`: a private system filled with N images, measured through the
gateway while a probe queries it every 100 ms (docs/benchmarks.md, "At scale").

How it fills the system:
1. `--real` real images of ../shared/data (half ZooLake, half NDSB, a seeded sample) go through
   the real ingest path (`nauplius ingest`, one job per data set, labelled validated by their
   folders, instrument SPC for ZooLake and ISIIS for NDSB): gateway, catalog, worker, embedder,
   search service.
2. Their vectors: the same files embedded again through the embedder's `/v1/embed` (the search
   service has no route that answers stored vectors, and one only for a bench is not worth a
   route; the model and its preprocessing are the worker's, so the vectors are the ones stored).
3. The other N - real images: catalog rows through the catalog's `POST /v1/images/bulk-rows`
   (5,000 a request; labels, states, instruments, samples and capture times in the shapes of
   SYNTHETIC_SHAPES; each row shares the stored files of the real image its vector is made from,
   so the grid shows that image's thumbnail), their vectors (nauplius.scale_vectors: a real
   embedding plus seeded noise) through the search service's `PUT .../points` (1,000 a request,
   payloads as the worker writes them), then `POST /v1/images/indexed`; a chunk's rows go to the
   catalog while the chunk before goes to the search service.
4. It waits until the search service's `GET .../index` says no build is pending or under way
   (the point count where the route is missing).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from tqdm import tqdm

from nauplius.core.index_sync import payload_of
from nauplius.ingest import ingest
from nauplius.private_system import PrivateSystem, private_system, service_settings
from nauplius.scale_vectors import SyntheticVectors, exact_neighbours, nearest_base_is_own, noise_sigma
from nauplius.tasks import refresh_suggestions
from nauplius.training.datasets import ImageFile, find_images

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL_SETS = {"zoolake": "SPC", "ndsb": "ISIIS"}  # data set -> the instrument its images are from
ROWS_PER_REQUEST = 5000  # the catalog's bulk-rows cap
POINTS_PER_REQUEST = 1000
EMBED_BATCH = 32
PROBE_EVERY_S = 0.1
RECALL_QUERIES = 100
PAGE_REPEATS = 15
RESTART_TIMEOUT_S = 1800.0
SECOND_PROJECT_SHARE = 0.3  # of the synthetic rows, in a second project
# The synthetic rows' shapes: one instrument's images come in samples (one cast or one IFCB
# bin) of SAMPLE_IMAGES, captured CAPTURE_STEP_S apart (a million images a month).
INSTRUMENT_SHARES = {"IFCB": 0.5, "SPC": 0.25, "ISIIS": 0.15, "FlowCam": 0.10}
STATE_SHARES = {"validated": 0.10, "dubious": 0.02, "predicted": 0.15, "unlabelled": 0.73}
SAMPLE_IMAGES = 2000
CAPTURE_STEP_S = 2.6
FIRST_CAPTURE = datetime(2025, 1, 1, tzinfo=UTC)
SERVICES = ("gateway", "catalog", "worker", "embedder", "search")


def _ok(response: httpx.Response) -> Any:
    if response.is_error:
        raise RuntimeError(f"{response.request.method} {response.request.url} answered "
                           f"{response.status_code}: {response.text[:300]}")
    return response.json()


def _ms(values: list[float], p: float) -> float:
    return round(float(np.percentile(values, p)), 1) if values else 0.0


def _mb(value: int) -> float:
    return round(value / 2 ** 20, 1)


@dataclass
class RealBase:
    ids: list[int]  # catalog ids, in the order of `vectors`
    taxa: list[str]
    files: list[Path]
    vectors: np.ndarray  # (B, d) float32


@dataclass
class Loaded:
    point_ids: np.ndarray  # index i -> the catalog id of image i
    real_ingest_s: float
    embed_s: float
    synthetic_load_s: float
    index_wait_s: float
    sigma: float
    d_min: float
    synthetic_steps_s: dict[str, float]  # seconds in each step of the synthetic load


class Probe(threading.Thread):
    """A similar-image query through the gateway every PROBE_EVERY_S: the longest any waited,
    and the search service's resident memory sampled at the same pace."""

    def __init__(self, system: PrivateSystem, image_id: int) -> None:
        super().__init__(daemon=True)
        self.url = f"{system.url}/api/v1/images/{image_id}/similar"
        self.api_key = system.api_key
        self.system = system
        self.longest_ms = 0.0
        self.phase = "start"  # what the bench is doing: the longest wait is kept per phase too
        self.longest_by_phase: dict[str, float] = {}
        self.queries = 0
        self.errors: list[str] = []
        self.search_peak_rss = 0
        # Of the search process alone, without its memory-mapped files (which the kernel may
        # drop at will): what it holds that only swapping could take back.
        self.search_peak_anon = 0
        self._halt = threading.Event()

    def run(self) -> None:
        with self.system.client(timeout_s=3600) as client:
            while not self._halt.is_set():
                started = time.perf_counter()
                try:
                    response = client.get(self.url, params={"k": 10})
                    if response.is_error and len(self.errors) < 5:
                        self.errors.append(f"{response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as error:
                    if len(self.errors) < 5:
                        self.errors.append(f"{type(error).__name__}: {error}")
                waited = (time.perf_counter() - started) * 1000
                self.longest_ms, self.queries = max(self.longest_ms, waited), self.queries + 1
                self.longest_by_phase[self.phase] = round(
                    max(self.longest_by_phase.get(self.phase, 0.0), waited), 1)
                self._sample_rss()
                self._halt.wait(max(0.0, PROBE_EVERY_S - waited / 1000))

    def _sample_rss(self) -> None:
        try:
            search = psutil.Process(self.system.stack.services["search"].process.pid)
            # With its children: index builds may run in processes of their own.
            rss = sum(p.memory_info().rss for p in [search, *search.children(recursive=True)])
            own = search.memory_info()
        except (psutil.Error, KeyError):
            return
        self.search_peak_rss = max(self.search_peak_rss, rss)
        self.search_peak_anon = max(self.search_peak_anon, own.rss - own.shared)

    def stop(self) -> None:
        self._halt.set()
        self.join()


class RssSampler(threading.Thread):
    """One process's peak resident memory, sampled at 10 Hz."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.1):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


def _peak_rss(pid: int) -> int:
    """The kernel's high-water mark of a process's resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return psutil.Process(pid).memory_info().rss  # no /proc: what it holds now


def pick_real(data: Path, count: int, seed: int) -> dict[str, list[ImageFile]]:
    """`count` labelled images, half of each real set (a seeded sample)."""
    rng = random.Random(seed)
    picked = {}
    for number, name in enumerate(REAL_SETS):
        folder = data / name
        images = [i for i in find_images([folder], label_from_folder=True) if i.path.parent != folder]
        want = count // len(REAL_SETS) + (number < count % len(REAL_SETS))
        if len(images) < want:
            raise ValueError(f"{folder} holds {len(images)} labelled images; --real asks {want}")
        picked[name] = sorted(rng.sample(images, want), key=lambda i: str(i.path))
    return picked


def _model(system: PrivateSystem) -> str:
    headers = system.stack.service_headers()
    name: str = _ok(httpx.get(f"{system.stack.services['embedder'].url}/v1/model",
                              headers=headers))["name"]
    return name


def _real_base(system: PrivateSystem, picked: dict[str, list[ImageFile]]) -> RealBase:
    """The stored real images, their catalog ids and their vectors (embedded again)."""
    headers = system.stack.service_headers()
    services = system.stack.services
    images = [image for group in picked.values() for image in group]
    files: dict[str, ImageFile] = {}
    for image in images:
        files.setdefault(hashlib.sha256(image.path.read_bytes()).hexdigest(), image)
    stored = []
    shas = list(files)
    for start in range(0, len(shas), 1000):
        stored += _ok(httpx.post(f"{services['catalog'].url}/v1/images/by-sha256", headers=headers,
                                 json={"sha256": shas[start:start + 1000]}, timeout=120))["data"]
    stored.sort(key=lambda row: row["id"])
    chosen = [files[row["sha256"]] for row in stored]
    vectors = []
    with httpx.Client(timeout=600, headers=headers) as http:
        for start in tqdm(range(0, len(chosen), EMBED_BATCH), desc="embed real", unit="batch",
                          file=sys.stderr):
            batch = chosen[start:start + EMBED_BATCH]
            answer = _ok(http.post(f"{services['embedder'].url}/v1/embed",
                                   params={"encoding": "base64"},
                                   files=[("files", (i.path.name, i.path.read_bytes())) for i in batch]))
            for result in answer["data"]:
                if result["vector_b64"] is None:
                    raise RuntimeError(f"the embedder refused a stored image: {result['error']}")
                vectors.append(np.frombuffer(base64.b64decode(result["vector_b64"]), dtype="<f4"))
    return RealBase([row["id"] for row in stored], [i.taxon for i in chosen],
                    [i.path for i in chosen], np.stack(vectors))


def _shares(rng: np.random.Generator, shares: dict[str, float], n: int) -> list[str]:
    names = list(shares)
    return [names[i] for i in rng.choice(len(names), size=n, p=list(shares.values()))]


def synthetic_rows(first: int, count: int, real: RealBase, seed: int) -> list[dict[str, Any]]:
    """Catalog rows of images [first, first + count), each with the label of its vector's base."""
    rng = np.random.default_rng([seed, first])
    instruments = _shares(rng, INSTRUMENT_SHARES, count)
    states = _shares(rng, STATE_SHARES, count)
    confidence = rng.uniform(0.3, 1.0, count)
    second_project = rng.random(count) < SECOND_PROJECT_SHARE
    rows = []
    for n in range(count):
        i = first + n
        base = i % len(real.ids)
        state = states[n]
        rows.append({
            "sha256": hashlib.sha256(f"nauplius-bench-scale:{seed}:{i}".encode()).hexdigest(),
            "filename": f"synthetic_{i:08d}.png",
            "instrument": instruments[n],
            "sample": f"{instruments[n]}_{i // SAMPLE_IMAGES:05d}",
            "captured_at": (FIRST_CAPTURE + timedelta(seconds=i * CAPTURE_STEP_S)).isoformat(),
            "project_id": 2 if second_project[n] else 1,
            "label": None if state == "unlabelled" else real.taxa[base],
            "label_state": state,
            "confidence": round(float(confidence[n]), 3) if state == "predicted" else None,
            "files_of": real.ids[base],
        })
    return rows


def _load_synthetic(system: PrivateSystem, model: str, real: RealBase, vectors: SyntheticVectors,
                    point_ids: np.ndarray, seed: int) -> dict[str, float]:
    """Rows, points and index marks, a chunk at a time; seconds spent in each step. Two stages
    overlap: a chunk's rows go to the catalog while the chunk before it goes to the search
    service and is marked indexed (the two services are separate processes)."""
    services = system.stack.services
    seconds = dict.fromkeys(("vectors", "catalog_rows", "search_upsert", "mark_indexed"), 0.0)

    def timed(step: str, started: float) -> None:
        seconds[step] += time.perf_counter() - started

    def index(http: httpx.Client, ids: list[int], chunk: np.ndarray,
              rows: list[dict[str, Any]]) -> None:
        started = time.perf_counter()
        for start in range(0, len(ids), POINTS_PER_REQUEST):
            points = [{"id": image_id,
                       "vector_b64": base64.b64encode(vector.astype("<f4").tobytes()).decode(),
                       "payload": payload_of({**row, "id": image_id})}
                      for image_id, vector, row in zip(
                          ids[start:start + POINTS_PER_REQUEST],
                          chunk[start:start + POINTS_PER_REQUEST],
                          rows[start:start + POINTS_PER_REQUEST], strict=True)]
            _ok(http.put(f"{services['search'].url}/v1/collections/{model}/points",
                         json={"points": points}))
        timed("search_upsert", started)
        started = time.perf_counter()
        _ok(http.post(f"{services['catalog'].url}/v1/images/indexed",
                      json={"ids": ids, "model": model}))
        timed("mark_indexed", started)

    headers = system.stack.service_headers()
    with httpx.Client(timeout=3600, headers=headers) as http, \
            httpx.Client(timeout=3600, headers=headers) as index_http, \
            ThreadPoolExecutor(max_workers=1) as indexer, \
            tqdm(total=vectors.total - len(real.ids), desc="synthetic rows", unit="row",
                 file=sys.stderr) as bar:
        pending: Future[None] | None = None
        started = time.perf_counter()
        for first, chunk in vectors.chunks(len(real.ids), ROWS_PER_REQUEST):
            rows = synthetic_rows(first, len(chunk), real, seed)
            timed("vectors", started)
            started = time.perf_counter()
            ids = _ok(http.post(f"{services['catalog'].url}/v1/images/bulk-rows",
                                json={"rows": rows}))["image_ids"]
            point_ids[first:first + len(ids)] = ids
            timed("catalog_rows", started)
            if pending is not None:
                pending.result()
                bar.update(ROWS_PER_REQUEST)
            pending = indexer.submit(index, index_http, ids, chunk, rows)
            started = time.perf_counter()
        if pending is not None:
            pending.result()
        bar.update(bar.total - bar.n)
    return {step: round(s, 1) for step, s in seconds.items()}


def _wait_indexed(system: PrivateSystem, model: str, total: int, timeout_s: float) -> dict:
    """Until the search service holds every point and no index build is pending or under way;
    its last index status (or count, where it has no index status route)."""
    url = f"{system.stack.services['search'].url}/v1/collections/{model}"
    headers = system.stack.service_headers()
    deadline = time.monotonic() + timeout_s
    status: dict = {}
    while time.monotonic() < deadline:
        answer = httpx.get(f"{url}/index", headers=headers, timeout=3600)
        if answer.status_code == 404:  # a search service without the route: the count only
            status = {"points": _ok(httpx.get(f"{url}/count", headers=headers))["count"]}
            if status["points"] >= total:
                return status
        else:
            status = _ok(answer)
            if status["points"] >= total and not status["building"] and not status["pending"]:
                return status
        time.sleep(1.0)
    raise RuntimeError(f"the search index did not settle within {timeout_s:.0f} s: {status}")


def load(system: PrivateSystem, picked: dict[str, list[ImageFile]], images: int, seed: int,
         index_timeout_s: float, phase: Callable[[str], None]) -> tuple[Loaded, RealBase,
                                                                      SyntheticVectors]:
    phase("real_ingest")
    with system.client() as api:
        _ok(api.post("/api/v1/projects", json={"name": "bench scale, second project"}))
    started = time.perf_counter()
    for name, group in picked.items():
        report = ingest([i.path for i in group], system.url, label_from_folder=True,
                        instrument=REAL_SETS[name], progress=True, api_key=system.api_key)
        if report.errors:
            raise RuntimeError(f"the real ingest refused {len(report.errors)}: {report.errors[:3]}")
    ingested = time.perf_counter()
    phase("real_embed")
    real = _real_base(system, picked)
    embedded = time.perf_counter()
    if images < len(real.ids):
        raise ValueError(f"--images {images} is below the {len(real.ids)} real images stored")
    sigma, d_min = noise_sigma(real.vectors)
    vectors = SyntheticVectors(real.vectors, images, sigma, seed)
    point_ids = np.zeros(images, dtype=np.int64)
    point_ids[:len(real.ids)] = real.ids
    model = _model(system)
    phase("synthetic_load")
    steps = _load_synthetic(system, model, real, vectors, point_ids, seed)
    loaded = time.perf_counter()
    phase("index_wait")
    _wait_indexed(system, model, images, index_timeout_s)
    settled = time.perf_counter()
    return Loaded(point_ids, round(ingested - started, 1), round(embedded - ingested, 1),
                  round(loaded - embedded, 1), round(settled - loaded, 1), sigma, d_min,
                  steps), real, vectors


def _timed(call: Callable[[Any], httpx.Response], arguments: Iterable[Any]) -> list[float]:
    """Milliseconds of call(a) for each a, one after another; any error answer stops the bench."""
    times = []
    for argument in arguments:
        started = time.perf_counter()
        _ok(call(argument))
        times.append((time.perf_counter() - started) * 1000)
    return times


@dataclass
class Queries:
    api: httpx.Client
    real: RealBase
    point_ids: np.ndarray
    rng: random.Random
    count: int
    figures: dict[str, Any] = field(default_factory=dict)

    def by_image(self) -> None:
        files = [(path.name, path.read_bytes()) for path in self.real.files[:self.count]]
        times = _timed(lambda f: self.api.post(
            "/api/v1/search", params={"k": 10}, files={"file": (f[0], f[1], "image/jpeg")}),
            (files[n % len(files)] for n in range(self.count)))
        self.figures |= {"query_by_image_p50_ms": _ms(times, 50),
                         "query_by_image_p95_ms": _ms(times, 95)}

    def _ids(self) -> list[int]:
        return [int(self.point_ids[self.rng.randrange(len(self.point_ids))])
                for _ in range(self.count)]

    def by_id(self) -> None:
        times = _timed(lambda i: self.api.get(f"/api/v1/images/{i}/similar", params={"k": 10}),
                       self._ids())
        self.figures["query_by_id_p50_ms"] = _ms(times, 50)

    def filtered(self, system: PrivateSystem, model: str) -> None:
        """By label through the gateway (its one filter), and by state, instrument and project
        straight at the search service (the gateway has no such parameters)."""
        taxa = sorted(set(self.real.taxa))
        times = _timed(lambda i: self.api.get(
            f"/api/v1/images/{i}/similar", params={"k": 10, "label": self.rng.choice(taxa)}),
            self._ids())
        self.figures["filtered_query_p50_ms"] = _ms(times, 50)
        url = f"{system.stack.services['search'].url}/v1/collections/{model}/query"
        filters = {"state": {"state": "validated"}, "instrument": {"instrument": "IFCB"},
                   "project": {"project": "2"}}
        direct = {}
        with httpx.Client(timeout=3600, headers=system.stack.service_headers()) as http:
            for name, query_filter in filters.items():
                asked = [{"id": i, "k": 10, "filter": query_filter} for i in self._ids()]
                direct[name] = _ms(_timed(lambda body: http.post(url, json=body), asked), 50)
        self.figures["filtered_search_service_p50_ms"] = direct


def _recall(api: httpx.Client, point_ids: np.ndarray, queries: list[int], truth: np.ndarray,
            params: dict[str, Any]) -> tuple[float, float]:
    """(recall@10 of the served similar images against the exact ten, p50 ms)."""
    found, times = [], []
    for query, exact in zip(queries, truth, strict=True):
        image_id = int(point_ids[query])
        started = time.perf_counter()
        answer = _ok(api.get(f"/api/v1/images/{image_id}/similar", params={"k": 11, **params}))
        times.append((time.perf_counter() - started) * 1000)
        served = [hit["id"] for hit in answer["data"] if hit["id"] != image_id][:10]
        found.append(len(set(served) & {int(point_ids[i]) for i in exact}) / 10)
    return round(float(np.mean(found)), 4), _ms(times, 50)


def _deep_page(api: httpx.Client) -> tuple[float, int]:
    """p50 of a 50-row grid page 80% of the way down validated IFCB images, by cursor."""
    params: dict[str, Any] = {"state": "validated", "instrument": "IFCB", "limit": 500}
    first = _ok(api.get("/api/v1/images", params=params))
    depth, walked, cursor = int(first["count"] * 0.8), len(first["data"]), first["next_cursor"]
    while walked < depth and cursor:
        page = _ok(api.get("/api/v1/images", params={**params, "cursor": cursor}))
        walked, cursor = walked + len(page["data"]), page["next_cursor"]
    deep = {**params, "limit": 50, **({"cursor": cursor} if cursor else {})}
    times = _timed(lambda _: api.get("/api/v1/images", params=deep), range(PAGE_REPEATS))
    return _ms(times, 50), walked


def _export(system: PrivateSystem, api: httpx.Client) -> dict[str, Any]:
    """A full Darwin Core export of the validated labels, streamed; the gateway's peak memory."""
    rows = _ok(api.get("/api/v1/images", params={"state": "validated", "limit": 1}))["count"]
    sampler = RssSampler(system.stack.services["gateway"].process.pid)
    before = sampler.peak
    sampler.start()
    started = time.perf_counter()
    size = 0
    with api.stream("GET", "/api/v1/export", params={"format": "dwca"}) as answer:
        if answer.is_error:
            answer.read()
            _ok(answer)
        for chunk in answer.iter_bytes():
            size += len(chunk)
    seconds = time.perf_counter() - started
    peak = sampler.stop()
    return {"export_rows": rows, "export_s": round(seconds, 1),
            "export_rows_per_s": round(rows / seconds), "export_mb": round(size / 2 ** 20, 2),
            "export_gateway_rss_before_mb": _mb(before), "export_gateway_peak_rss_mb": _mb(peak)}


def _restart(system: PrivateSystem, api: httpx.Client, image_id: int,
             timeout_s: float = RESTART_TIMEOUT_S) -> dict[str, Any]:
    """Stop every service, start them again on the same data; seconds until a query answers."""
    started = time.perf_counter()
    system.stack.stop()
    stopped = time.perf_counter()
    system.stack.start(timeout_s=timeout_s)
    while True:
        try:
            if api.get(f"/api/v1/images/{image_id}/similar", params={"k": 10}).is_success:
                break
        except httpx.HTTPError:
            pass
        if time.perf_counter() - stopped > timeout_s:
            raise RuntimeError(f"no query answered within {timeout_s:.0f} s of the restart")
        time.sleep(0.2)
    answered = time.perf_counter()
    return {"stop_s": round(stopped - started, 1), "restart_s": round(answered - stopped, 1)}


def _suggestions(api: httpx.Client) -> dict[str, Any]:
    started = time.perf_counter()
    result = refresh_suggestions(api, "full", progress=True)
    seconds = time.perf_counter() - started
    rescored = result["images"] + result["revoted"]
    return {"suggest_images": rescored, "suggest_s": round(seconds, 1),
            "suggest_images_per_s": round(rescored / seconds, 1)}


def run(images: int, real_count: int = 2000, data: Path = DEFAULT_DATA, seed: int = 0,
        queries: int = 100, env: dict[str, str] | None = None, database_url: str | None = None,
        index_timeout_s: float = 7200.0) -> dict[str, Any]:
    load_average_start = [round(x, 2) for x in os.getloadavg()]
    with private_system("nauplius-bench-scale-", env=env, database_url=database_url) as system, \
            system.client(timeout_s=3600) as api:
        # The probe asks for neighbours of an image stored before it starts: the first real one.
        picked = pick_real(data, real_count, seed)
        probe_image = picked["zoolake"][0]
        probe: Probe | None = None
        started = time.perf_counter()
        try:
            probe_id = _probe_target(system, probe_image)
            probe = Probe(system, probe_id)
            probe.start()
            loaded, real, vectors = load(system, picked, images, seed, index_timeout_s,
                                         lambda name: setattr(probe, "phase", name))
        finally:
            if probe is not None:
                probe.stop()
        load_s = time.perf_counter() - started
        model = _model(system)
        rng = random.Random(seed)
        measured = Queries(api, real, loaded.point_ids, rng, queries)
        measured.by_image()
        measured.by_id()
        measured.filtered(system, model)
        recall_queries = sorted(rng.sample(range(images), min(RECALL_QUERIES, images)))
        truth = exact_neighbours(vectors, recall_queries, 10)
        recall, recall_p50 = _recall(api, loaded.point_ids, recall_queries, truth, {})
        hamming_recall, hamming_p50 = _recall(api, loaded.point_ids, recall_queries, truth,
                                              {"metric": "hamming", "rerank": 100})
        page_p50, page_depth = _deep_page(api)
        search_rss = max(_peak_rss(system.stack.services["search"].process.pid),
                         probe.search_peak_rss if probe else 0)
        exported = _export(system, api)
        restarted = _restart(system, api, probe_id)
        suggested = _suggestions(api)
        count = _ok(api.get("/api/v1/images", params={"limit": 1}))["count"]
    return {
        "images": images, "catalog_images": count, "real_images": len(real.ids),
        "synthetic_images": images - len(real.ids),
        **measured.figures,
        "recall_at_10": recall, "recall_query_p50_ms": recall_p50,
        "hamming": {"metric": "hamming", "rerank": 100, "query_p50_ms": hamming_p50,
                    "recall_at_10": hamming_recall},
        "page_p50_ms": page_p50, "page_depth_rows": page_depth,
        "longest_stall_ms": round(probe.longest_ms if probe else 0.0, 1),
        "longest_stall_by_phase_ms": probe.longest_by_phase if probe else {},
        "probe_queries": probe.queries if probe else 0,
        "probe_errors": probe.errors if probe else [],
        "search_rss_mb": _mb(search_rss),
        "search_rss_anon_mb": _mb(probe.search_peak_anon if probe else 0),
        **restarted, **exported, **suggested,
        "load_s": round(load_s, 1), "real_ingest_s": loaded.real_ingest_s,
        "real_embed_s": loaded.embed_s, "synthetic_load_s": loaded.synthetic_load_s,
        "synthetic_rows_per_s": round((images - len(real.ids)) / max(loaded.synthetic_load_s, 1e-9)),
        "synthetic_steps_s": loaded.synthetic_steps_s, "index_wait_s": loaded.index_wait_s,
        "noise_sigma": round(loaded.sigma, 6), "base_min_distance": round(loaded.d_min, 4),
        "nearest_base_is_own": nearest_base_is_own(vectors, recall_queries),
        "cores": os.cpu_count(), "load_average_start": load_average_start,
        "load_average_end": [round(x, 2) for x in os.getloadavg()], "settings": env or {},
    }


def _probe_target(system: PrivateSystem, image: ImageFile) -> int:
    """Store one real image before the load starts, so the probe has neighbours to ask for."""
    report = ingest([image.path], system.url, label_from_folder=True,
                    instrument=REAL_SETS["zoolake"], progress=False, api_key=system.api_key)
    if report.errors or report.job_id is None:
        raise RuntimeError(f"the probe's image was refused: {report.errors}")
    with system.client() as api:
        [newest] = _ok(api.get("/api/v1/images", params={"limit": 1}))["data"]
    image_id: int = newest["id"]
    return image_id


def format_report(result: dict[str, Any]) -> str:
    rows = [
        ("images (real + synthetic)", f"{result['images']} ({result['real_images']} + "
                                      f"{result['synthetic_images']})"),
        ("query by image p50 / p95", f"{result['query_by_image_p50_ms']} / "
                                     f"{result['query_by_image_p95_ms']} ms"),
        ("query by id p50", f"{result['query_by_id_p50_ms']} ms"),
        ("filtered (label) p50", f"{result['filtered_query_p50_ms']} ms"),
        ("filtered at the search service p50", ", ".join(
            f"{k} {v} ms" for k, v in result["filtered_search_service_p50_ms"].items())),
        ("recall@10", f"{result['recall_at_10']}"),
        ("hamming, rerank 100: p50 / recall@10", f"{result['hamming']['query_p50_ms']} ms / "
                                                 f"{result['hamming']['recall_at_10']}"),
        ("deep filtered page p50", f"{result['page_p50_ms']} ms ({result['page_depth_rows']} "
                                   "rows down)"),
        ("longest stall", f"{result['longest_stall_ms']} ms ({result['probe_queries']} probes, "
                          f"{len(result['probe_errors'])} errors; by phase: " + ", ".join(
                              f"{k} {v}" for k, v in result["longest_stall_by_phase_ms"].items())
                          + ")"),
        ("search service peak RSS", f"{result['search_rss_mb']} MB "
                                    f"({result['search_rss_anon_mb']} MB not file-backed)"),
        ("restart", f"{result['restart_s']} s"),
        ("export (Darwin Core, validated)", f"{result['export_rows_per_s']} rows/s, "
                                            f"{result['export_rows']} rows, gateway peak "
                                            f"{result['export_gateway_peak_rss_mb']} MB"),
        ("suggestions refresh (job)", f"{result['suggest_images_per_s']} images/s"),
        ("load: ingest / embed / rows / index", f"{result['real_ingest_s']} / "
                                                f"{result['real_embed_s']} / "
                                                f"{result['synthetic_load_s']} / "
                                                f"{result['index_wait_s']} s"),
        ("load average start / end", f"{result['load_average_start']} / "
                                     f"{result['load_average_end']}"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(args: argparse.Namespace) -> int:
    if args.real < 2 or args.images < args.real or args.queries < 1:
        print("nauplius bench scale: --real must be at least 2, --images at least --real, "
              "--queries positive", file=sys.stderr)
        return 2
    data = args.data or DEFAULT_DATA
    if not all((data / name).is_dir() for name in REAL_SETS):
        print(f"nauplius bench scale: {data} needs the folders {', '.join(REAL_SETS)}",
              file=sys.stderr)
        return 2
    try:
        result = run(args.images, args.real, data, args.seed, args.queries, service_settings(args.set),
                     database_url=os.environ.get("CATALOG_DATABASE_URL"),
                     index_timeout_s=args.index_timeout_s)
    except ValueError as error:
        print(f"nauplius bench scale: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else format_report(result))
    return 0
