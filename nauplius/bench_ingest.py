"""`nauplius bench ingest`: images/s through the whole system, gateway to indexed, and where the
time goes.

Starts a private system (five processes, its own PostgreSQL and Qdrant Edge index), sends the
images as one durable ingest job exactly as `nauplius ingest` does, and waits until the job is
finished and the search index holds every stored image. Then it reports:

- the wall time of sending the job (gateway -> catalog staging) and of indexing it (worker);
- the worker's seconds in calls to each service (its `/health` `service_seconds`; concurrent
  catalog calls overlap, so they can add up to more than the wall time) and the rest as overhead;
- the CPU seconds each process used (the processes share the machine's cores) and per image,
  the embedded PostgreSQL's (its server processes) and this process's own (reading the files
  and sending them, as `nauplius ingest` would), and how many cores all of them kept busy
  (`cores_busy`: their CPU seconds over the wall time); and the load average, since on a shared
  machine other work takes cores too.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from nauplius.formats.discover import read_paths
from nauplius.ingest import follow_job, send_job
from nauplius.private_system import PrivateSystem, private_system, service_settings
from nauplius.training.datasets import find_images

SERVICES = ("gateway", "catalog", "worker", "embedder", "search")


def _cpu_seconds(system: PrivateSystem) -> dict[str, float]:
    seconds = {}
    for name in SERVICES:
        times = psutil.Process(system.stack.services[name].process.pid).cpu_times()
        seconds[name] = times.user + times.system
    return seconds


def _postgres_cpu_seconds(system: PrivateSystem) -> dict[int, float]:
    """CPU seconds of each process of the embedded PostgreSQL (its postmaster and the backends
    alive now); {} when the database is not the private system's own."""
    pid_file = system.data_dir / "postgres" / "postmaster.pid"
    try:
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        processes = [postmaster, *postmaster.children(recursive=True)]
    except (OSError, ValueError, IndexError, psutil.Error):
        return {}
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:  # a backend that ended meanwhile
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


def _own_cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def _indexed(system: PrivateSystem) -> int:
    headers = system.stack.service_headers()
    model = httpx.get(f"{system.stack.services['embedder'].url}/v1/model",
                      headers=headers).json()["name"]
    answer = httpx.get(f"{system.stack.services['search'].url}/v1/collections/{model}/count",
                       headers=headers)
    return 0 if answer.status_code == 404 else answer.json()["count"]


def _start_profilers(system: PrivateSystem, folder: Path) -> list[subprocess.Popen]:
    """py-spy sampling each service process into folder/NAME.txt (collapsed stacks)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    folder.mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([py_spy, "record", "--pid", str(system.stack.services[name].process.pid),
                              "--rate", "50", "--nonblocking", "--format", "raw",
                              "--output", str(folder / f"{name}.txt")],
                             stdout=subprocess.DEVNULL,
                             stderr=(folder / f"{name}.log").open("w"))
            for name in SERVICES]


def _stop_profilers(profilers: list[subprocess.Popen]) -> None:
    for profiler in profilers:
        profiler.send_signal(2)  # SIGINT: py-spy writes its file and exits
    for profiler in profilers:
        profiler.wait(timeout=60)


def run(data: Path, limit: int | None = None, seed: int = 0, env: dict[str, str] | None = None,
        progress: bool = True, database_url: str | None = None,
        profile_dir: Path | None = None) -> dict:
    """`profile_dir`: also sample every service with py-spy (must be installed) while it runs."""
    images = [image.path for image in find_images([data])]
    if not images:
        raise ValueError(f"no images under {data}")
    if limit:
        images = sorted(random.Random(seed).sample(images, min(limit, len(images))))
    with private_system("nauplius-bench-ingest-", env=env, database_url=database_url) as system:
        cpu_before = _cpu_seconds(system)
        postgres_before, own_before = _postgres_cpu_seconds(system), _own_cpu_seconds()
        profilers = _start_profilers(system, profile_dir) if profile_dir else []
        with system.client() as client:
            started = time.perf_counter()
            job_id = send_job(client, read_paths(images))
            sent = time.perf_counter()
            status = follow_job(client, job_id, progress, poll_s=0.2)
            finished = time.perf_counter()
        _stop_profilers(profilers)
        own_s = _own_cpu_seconds() - own_before
        # A backend started during the run counts from zero; one that ended is missed (the
        # services keep pooled connections, so few do).
        postgres_s = sum(after - postgres_before.get(pid, 0.0)
                         for pid, after in _postgres_cpu_seconds(system).items())
        cpu = {name: after - cpu_before[name] for name, after in _cpu_seconds(system).items()}
        indexed = _indexed(system)
        worker = httpx.get(f"{system.stack.services['worker'].url}/health").json()
    counts = status["counts"]
    wall_s = finished - started
    services_s = sum(cpu.values())
    index_s = finished - sent
    # Three decimals: a small fast run spends well under 0.05 s in some services.
    service_seconds = {name: round(s, 3) for name, s in sorted(worker["service_seconds"].items())}
    return {
        "data": str(data), "images": len(images), "stored": counts["done"],
        "duplicates": counts["duplicate"], "failed": counts["failed"], "indexed": indexed,
        "seconds": round(wall_s, 2), "images_per_s": round(counts["done"] / wall_s, 1),
        "send_s": round(sent - started, 2), "index_s": round(index_s, 2),
        # Where the worker's time went while indexing (seconds in calls to each service).
        "service_seconds": service_seconds,
        "worker_overhead_s": round(max(0.0, index_s - sum(service_seconds.values())), 3),
        "cpu_seconds": {name: round(seconds, 1) for name, seconds in cpu.items()},
        "cpu_seconds_total": round(services_s, 1),
        "cpu_ms_per_image": {name: round(1000 * seconds / len(images), 2)
                             for name, seconds in [*cpu.items(), ("total", services_s)]},
        "cpu_seconds_postgres": round(postgres_s, 1), "cpu_seconds_sender": round(own_s, 3),
        "cores_busy": round((services_s + postgres_s + own_s) / wall_s, 2),
        "cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
        "settings": env or {},
    }


def main(args: argparse.Namespace) -> int:
    if not args.data.is_dir():
        print(f"nauplius bench ingest: not a folder: {args.data}", file=sys.stderr)
        return 2
    try:
        settings = service_settings(args.set)
        result = run(args.data, args.limit, args.seed, settings, progress=True)
    except ValueError as error:
        print(f"nauplius bench ingest: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['stored']} images stored and {result['indexed']} indexed in "
          f"{result['seconds']} s = {result['images_per_s']} images/s "
          f"({result['duplicates']} duplicates, {result['failed']} failed)")
    print(f"  send {result['send_s']} s, index {result['index_s']} s")
    calls = ", ".join(f"{name} {s} s" for name, s in result["service_seconds"].items())
    print(f"  worker calls: {calls}; overhead {result['worker_overhead_s']} s")
    cpu = ", ".join(f"{name} {s} s" for name, s in result["cpu_seconds"].items())
    print(f"  CPU: {cpu} (total {result['cpu_seconds_total']} s on {result['cores']} cores)")
    per_image = ", ".join(f"{name} {ms}" for name, ms in result["cpu_ms_per_image"].items())
    print(f"  CPU ms/image: {per_image}")
    print(f"  also PostgreSQL {result['cpu_seconds_postgres']} s and the sender "
          f"{result['cpu_seconds_sender']} s; {result['cores_busy']} cores busy on average")
    print(f"  load average {' '.join(map(str, result['load_average']))}")
    return 0
