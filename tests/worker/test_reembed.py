"""The reembed job over the real catalog (PostgreSQL), embedder (two real ONNX models) and search
(Qdrant Edge) apps: every stored image in the new version's collection with the catalog's payload,
a job stopped halfway going on from its last batch, and a stale job refused."""

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from nauplius.core.active_model import ActiveModel
from nauplius.core.clients import Downstream, FilePart
from nauplius.core.contracts.catalog import ClaimedTask
from nauplius.core.contracts.models import ReembedIn, VersionIn
from nauplius.core.pipeline import Content, index_contents
from services.worker.reembed import Reembed, ReembedRefused
from tests.support.catalog import Catalog
from tests.support.data import REPO_ROOT, zoolake_images
from tests.support.service_key import SERVICE_HEADERS, SERVICE_KEY
from tests.support.services import ServiceRouter, embedder_app, running_apps, search_app

OLD, NEW = "plankton-lite0-int8", "plankton-lite0"
LABELS = ["daphnia", "bosmina", "dinobryon"]
PER_LABEL = 4
BATCH = 4


class Stopped(Exception):
    """The worker going away mid-job (its process killed): nothing after this point runs."""


@pytest.fixture
async def downstream(catalog: Catalog, tmp_path: Path) -> AsyncIterator[Downstream]:
    models = [REPO_ROOT / "models" / f"{name}.onnx" for name in (OLD, NEW)]
    apps = {"embedder": embedder_app(model_paths=models, threads=1),
            "search": search_app(tmp_path / "search")}
    async with running_apps(apps):
        router = ServiceRouter({**apps, "catalog": catalog.app})
        async with httpx.AsyncClient(transport=router, headers=SERVICE_HEADERS) as http:
            yield Downstream.over(http, "http://embedder", "http://search", "http://catalog",
                                  service_key=SERVICE_KEY)


async def _stored(down: Downstream, active: ActiveModel) -> list[int]:
    taxa = "name,rank,parent,aphia_id\n" + "".join(f"{t},,,\n" for t in LABELS)
    await down.catalog.import_taxa(taxa.encode(), actor=None)
    contents = []
    for label in LABELS:
        for path in zoolake_images(label, PER_LABEL):
            data = path.read_bytes()
            contents.append(Content(FilePart(path.name, "image/jpeg", data),
                                    hashlib.sha256(data).hexdigest(), {"label": label}))
    await index_contents(contents, down, await active.get(), concurrency=2, also=active.written)
    assert all(c.error is None and c.image is not None for c in contents)
    return sorted(c.image.id for c in contents if c.image is not None)


async def _queued(down: Downstream, active: ActiveModel) -> ClaimedTask:
    await down.catalog.queue_reembed(NEW, ReembedIn(output_dim=1280,
                                                    current=VersionIn(name=OLD, output_dim=1280)))
    await active.refresh()
    task = await down.catalog.claim_task(["reembed"], lease_s=60)
    assert task is not None
    return task


async def test_a_stopped_reembed_goes_on_from_its_last_batch(downstream: Downstream):
    down = downstream
    active = ActiveModel(down)
    ids = await _stored(down, active)
    task = await _queued(down, active)
    reported: list[tuple[int, int | None]] = []

    async def stop_after_two_batches(done: int, total: int | None) -> None:
        reported.append((done, total))
        if done == 2 * BATCH:
            raise Stopped

    with pytest.raises(Stopped):
        await Reembed(down, active, task, stop_after_two_batches, BATCH, 2, grace_s=0.1).run()
    version = {v.name: v for v in (await down.catalog.model_versions()).data}[NEW]
    assert (version.state, version.done, version.after_id) == ("filling", 2 * BATCH, ids[2 * BATCH - 1])
    assert reported == [(0, len(ids)), (BATCH, len(ids)), (2 * BATCH, len(ids))]

    async def record(done: int, total: int | None) -> None:
        reported.append((done, total))

    again = Reembed(down, active, task, record, BATCH, 2, grace_s=0.1)
    result = await again.run()
    assert result == {"model": NEW, "embedded": len(ids) - 2 * BATCH, "skipped": 0,
                      "total": len(ids)}
    assert reported[3:] == [(2 * BATCH, len(ids)), (len(ids), len(ids)), (len(ids), len(ids))]
    version = {v.name: v for v in (await down.catalog.model_versions()).data}[NEW]
    assert version.state == "complete" and version.done == len(ids)

    rows = {row.id: row for row in (await down.catalog.index_rows(0, 100)).data}
    points = {p.id: p.payload for p in await down.search.retrieve(NEW, ids)}
    assert sorted(points) == ids
    for image_id, payload in points.items():
        row = rows[image_id]
        assert payload == {"label": row.label, "state": row.label_state, "instrument": None,
                           "sample": None, "project": "1"}
    # Another model: other vectors for the same images.
    [old_vector] = await down.search.vectors(OLD, [ids[0]])
    [new_vector] = await down.search.vectors(NEW, [ids[0]])
    assert old_vector.vector != new_vector.vector


async def test_a_job_that_no_longer_fills_its_version_is_refused(downstream: Downstream):
    down = downstream
    active = ActiveModel(down)
    await _stored(down, active)
    task = await _queued(down, active)

    async def ignore(done: int, total: int | None) -> None:
        return None

    stale = task.model_copy(update={"id": task.id + 1000})
    with pytest.raises(ReembedRefused, match=f"not being filled by job {task.id + 1000}"):
        await Reembed(down, active, stale, ignore, BATCH, 2).run()
    of_active = task.model_copy(update={"params": {"model": OLD}})
    with pytest.raises(ReembedRefused, match="is the active version"):
        await Reembed(down, active, of_active, ignore, BATCH, 2).run()
