"""`nauplius ingest`: send files, folders, archives, IFCB bins and EcoTaxa exports as one ingest job
through the gateway, then follow the job's counts with a progress bar until it is finished."""
from __future__ import annotations

import dataclasses
import itertools
import json
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tqdm import tqdm

from nauplius.core.contracts.gateway import gateway_headers
from nauplius.formats.discover import read_paths
from nauplius.formats.items import IngestItem, Refused
from nauplius.formats.wire import checked, entry, refusal

BATCH_SIZE = 128  # files per request while the job is being sent
POLL_S = 0.5


@dataclass
class IngestReport:
    stored: int = 0
    duplicates: int = 0
    errors: list[tuple[Path, str]] = field(default_factory=list)
    job_id: int | None = None


def _answer(response: httpx.Response) -> dict:
    if response.is_error:
        detail = response.text[:500]
        raise httpx.HTTPStatusError(f"{response.status_code}: {detail}", request=response.request,
                                    response=response)
    return response.json()


def send_job(client: httpx.Client, found: Iterable[IngestItem | Refused],
             batch_size: int = BATCH_SIZE) -> int:
    """Create a job, send everything in batches, close it; returns the job id. An item the catalog
    would refuse is sent as refused, with the reason, so it never costs its batch."""
    job = _answer(client.post("/api/v1/jobs", data={"keep_open": "true"}))
    found = iter(found)
    while batch := list(itertools.islice(found, batch_size)):
        batch = [checked(thing) if isinstance(thing, IngestItem) else thing for thing in batch]
        items = [thing for thing in batch if isinstance(thing, IngestItem)]
        refused = [refusal(thing) for thing in batch if isinstance(thing, Refused)]
        files = [("files", (item.filename, item.data)) for item in items]
        _answer(client.post(f"/api/v1/jobs/{job['id']}/items", files=files or None,
                            data={"items": json.dumps([entry(i) for i in items]),
                                  "refused": json.dumps(refused)}))
    _answer(client.post(f"/api/v1/jobs/{job['id']}/close"))
    return job["id"]


def follow_job(client: httpx.Client, job_id: int, progress: bool = True,
               poll_s: float = POLL_S) -> dict:
    """Poll the job until it is finished, showing its counts; returns the final status."""
    with tqdm(unit="img", disable=not progress, desc=f"job {job_id}") as bar:
        while True:
            status = _answer(client.get(f"/api/v1/jobs/{job_id}"))
            counts = status["counts"]
            bar.total = status["total"]
            bar.n = counts["done"] + counts["duplicate"] + counts["failed"]
            bar.set_postfix(new=counts["done"], duplicate=counts["duplicate"],
                            failed=counts["failed"], refresh=False)
            bar.refresh()
            if status["finished"]:
                return status
            time.sleep(poll_s)


def ingest(paths: list[Path], url: str, label_from_folder: bool = False,
           instrument: str | None = None, progress: bool = True,
           batch_size: int = BATCH_SIZE, api_key: str | None = None,
           shuffle_seed: int | None = None) -> IngestReport:
    """`shuffle_seed`: send everything (held in memory) in that seeded random order instead of
    path order. The labelling bench uses it: image ids then follow no class folder, as an
    instrument's capture order would not, so a page listed by id says nothing of the classes."""
    found: Iterable[IngestItem | Refused] = read_paths(paths, label_from_folder)
    if shuffle_seed is not None:
        shuffled = list(found)
        random.Random(shuffle_seed).shuffle(shuffled)
        found = shuffled
    if instrument:
        found = (dataclasses.replace(t, instrument=instrument) if isinstance(t, IngestItem) else t
                 for t in found)
    with httpx.Client(base_url=url, timeout=300.0, headers=gateway_headers(api_key)) as client:
        job_id = send_job(client, found, batch_size)
        status = follow_job(client, job_id, progress)
    return IngestReport(
        stored=status["counts"]["done"], duplicates=status["counts"]["duplicate"],
        errors=[(Path(e["source"]), e["error"]) for e in status["errors"]], job_id=job_id)
