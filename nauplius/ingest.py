"""`nauplius ingest`: upload image files and folders through the gateway's REST API."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tqdm import tqdm

from nauplius.datasets import ImageFile, find_images

BATCH_SIZE = 32


@dataclass
class IngestReport:
    stored: int = 0
    duplicates: int = 0
    errors: list[tuple[Path, str]] = field(default_factory=list)


def _batches(images: list[ImageFile], size: int):
    """Batches of files sharing one label, since the API takes one `label` per request."""
    for label, group in itertools.groupby(images, key=lambda f: f.label):
        group = list(group)
        for start in range(0, len(group), size):
            yield label, group[start:start + size]


def upload_batch(client: httpx.Client, label: str | None, batch: list[ImageFile],
                 instrument: str | None = None) -> list[dict]:
    """POST one batch; returns the gateway's per-file entries (a 4xx for an all-bad batch too)."""
    files = [("files", (f.path.name, f.path.read_bytes())) for f in batch]
    form = {key: value for key, value in (("label", label), ("instrument", instrument)) if value}
    response = client.post("/api/v1/images", files=files, data=form)
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if "data" not in body:
        response.raise_for_status()
        raise httpx.HTTPStatusError(f"unexpected answer: {response.text[:200]}",
                                    request=response.request, response=response)
    return body["data"]


def ingest(paths: list[Path], url: str, label_from_folder: bool = False,
           instrument: str | None = None, progress: bool = True,
           batch_size: int = BATCH_SIZE) -> IngestReport:
    images = find_images(paths, label_from_folder)
    report = IngestReport()
    with httpx.Client(base_url=url, timeout=300.0) as client, \
            tqdm(total=len(images), unit="img", disable=not progress) as bar:
        for label, batch in _batches(images, batch_size):
            for image, entry in zip(batch, upload_batch(client, label, batch, instrument)):
                if entry.get("error"):
                    report.errors.append((image.path, entry["error"]))
                elif entry.get("duplicate"):
                    report.duplicates += 1
                else:
                    report.stored += 1
            bar.update(len(batch))
            bar.set_postfix(new=report.stored, duplicate=report.duplicates,
                            refused=len(report.errors))
    return report
