"""Fine-tuning from a project: `nauplius model train --project ID` and the worker's `train` job.

The project's validated images are listed a page at a time (through the gateway's REST API, or
the catalog's for the worker) and each file is streamed to a temporary `<class>/<image>` tree, so
no more than one image is held in memory while fetching; the trainer then runs on that tree as on
any labelled folder. The card of the exported model records the project, the labels and classes
it learned from and the model it started from.
"""
from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import httpx

from nauplius.core.clients.catalog import CatalogClient

PAGE = 500
SUFFIXES = {"jpeg": ".jpg", "jpg": ".jpg", "png": ".png", "tiff": ".tif", "tif": ".tif",
            "bmp": ".bmp"}

Progress = Callable[[int, int | None], Awaitable[None]]


@dataclass(frozen=True)
class LabelledImage:
    id: int
    label: str
    format: str


class ProjectImages(Protocol):
    """Where a project's validated images come from: pages of (image, label), and each file."""

    project: int

    def pages(self) -> AsyncIterator[tuple[list[LabelledImage], int | None]]:
        """Pages of validated images, each with the total count where the API gives it."""
        ...

    def chunks(self, image_id: int) -> AsyncIterator[bytes]:
        ...


class GatewayImages:
    """Through the gateway (`nauplius model train --project`): GET /api/v1/images and .../file."""

    def __init__(self, client: httpx.AsyncClient, project: int):
        self.client, self.project = client, project

    async def pages(self) -> AsyncIterator[tuple[list[LabelledImage], int | None]]:
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"project": self.project, "state": "validated",
                                            "limit": PAGE}
            if cursor:
                params["cursor"] = cursor
            response = await self.client.get("/api/v1/images", params=params)
            response.raise_for_status()
            page = response.json()
            yield ([LabelledImage(row["id"], row["label"], row["format"]) for row in page["data"]
                    if row.get("label")], page.get("count"))
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def chunks(self, image_id: int) -> AsyncIterator[bytes]:
        async with self.client.stream("GET", f"/api/v1/images/{image_id}/file") as response:
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                yield chunk


class CatalogImages:
    """Straight from the catalog service (the worker's `train` job)."""

    def __init__(self, catalog: CatalogClient, project: int):
        self.catalog, self.project = catalog, project

    async def pages(self) -> AsyncIterator[tuple[list[LabelledImage], int | None]]:
        cursor: str | None = None
        while True:
            page = await self.catalog.list_images(PAGE, project_id=self.project, state="validated",
                                                  cursor=cursor)
            yield ([LabelledImage(i.id, i.label, i.format) for i in page.data if i.label],
                   page.count)
            cursor = page.next_cursor
            if not cursor:
                return

    async def chunks(self, image_id: int) -> AsyncIterator[bytes]:
        stream = await self.catalog.file(image_id)
        try:
            async for chunk in stream.chunks:
                yield chunk
        finally:
            await stream.aclose()


def class_folder(label: str) -> str:
    """A taxon as a folder name: path separators and a leading dot replaced, nothing else."""
    name = re.sub(r"[/\\\x00]", "_", label.strip())
    return "_" + name[1:] if name.startswith(".") else name or "_"


@dataclass(frozen=True)
class ProjectTree:
    folder: Path  # <class>/<image>, one file per validated image
    per_class: dict[str, int]

    @property
    def labels(self) -> int:
        return sum(self.per_class.values())


async def materialise(images: ProjectImages, folder: Path,
                      progress: Progress | None = None) -> ProjectTree:
    """Write every validated image of the project to folder/<class>/<id>.<ext>."""
    per_class: Counter[str] = Counter()
    folders: dict[str, str] = {}  # class folder -> the taxon it holds
    done = 0
    async for rows, total in images.pages():
        for row in rows:
            name = class_folder(row.label)
            if folders.setdefault(name, row.label) != row.label:
                raise ValueError(f"taxa {folders[name]!r} and {row.label!r} map to one folder name")
            path = folder / name / f"{row.id}{SUFFIXES.get(row.format.lower(), '.png')}"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as out:
                async for chunk in images.chunks(row.id):
                    out.write(chunk)
            per_class[row.label] += 1
            done += 1
        if progress is not None:
            await progress(done, total)
    return ProjectTree(folder, dict(sorted(per_class.items())))


def check_trainable(project: int, tree: ProjectTree) -> None:
    if len(tree.per_class) < 2:
        raise ValueError(f"project {project} has validated images of {len(tree.per_class)} "
                         "class(es); fine-tuning needs at least two classes")


def record_project(card_path: Path, project: int, tree: ProjectTree, source_model: dict) -> dict:
    """Add what the model learned from to its card (the ONNX file, and so its sha256, is unchanged)."""
    card = json.loads(card_path.read_text())
    card["project"] = project
    card["labels"] = tree.labels
    card["classes"] = len(tree.per_class)
    card["source_model"] = source_model
    card["training"]["project"] = {"id": project, "labels_per_class": tree.per_class,
                                   "images": "the project's validated images at the time of the run"}
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return card


def source_model(config) -> dict:
    from nauplius.training.model import base_spec

    spec = base_spec(config.base)
    return {"base": config.base, "weights": spec.card["source_weights"],
            "init_checkpoint": str(config.init) if config.init else None}


async def fetch_project(images: ProjectImages, scratch: Path,
                        progress: Progress | None = None) -> ProjectTree:
    tree = await materialise(images, scratch / f"project-{images.project}", progress)
    check_trainable(images.project, tree)
    return tree


def train_on_tree(tree: ProjectTree, project: int, config, on_epoch=None, progress: bool = True,
                  resume: bool = False):
    """Run the trainer on a fetched project; the card gains the project's fields."""
    from nauplius.training.train import train

    result = train(replace(config, data=[tree.folder]), resume=resume, progress=progress,
                   on_epoch=on_epoch)
    result.card.update(record_project(result.onnx_path.with_suffix(".json"), project, tree,
                                      source_model(config)))
    return result


def train_from_gateway(url: str, api_key: str | None, project: int, config,
                       progress: bool = True):
    """`nauplius model train --project ID`: fetch through the gateway, train here (CUDA if torch
    sees it), write OUT.onnx and its card."""
    import asyncio

    from nauplius.core.contracts.gateway import gateway_headers

    async def fetch(scratch: Path) -> ProjectTree:
        async with httpx.AsyncClient(base_url=url, timeout=120.0,
                                     headers=gateway_headers(api_key)) as client:
            return await fetch_project(GatewayImages(client, project), scratch)

    with tempfile.TemporaryDirectory(prefix=f"nauplius-project-{project}-") as scratch:
        tree = asyncio.run(fetch(Path(scratch)))
        return train_on_tree(tree, project, config, progress=progress)
