"""A full suggestions refresh, its neighbours found in batches, gives exactly the suggestions and
the calibration votes that one search query per image gives, on a small real ZooLake set
through the real catalog (PostgreSQL), embedder (ONNX) and search (Qdrant Edge) apps."""

import hashlib

import httpx
import numpy as np

from nauplius.core.active_model import ActiveModel
from nauplius.core.clients import Downstream, FilePart
from nauplius.core.pipeline import Content, index_contents
from nauplius.core.suggestion_refresh import Refresher
from nauplius.core.suggestions import K, Vote, calibrate, is_correct, vote
from tests.support.catalog import Catalog
from tests.support.data import zoolake_images
from tests.support.service_key import SERVICE_KEY
from tests.support.services import ServiceRouter

CLASSES = ["daphnia", "bosmina", "asplanchna", "keratella_quadrata", "dinobryon"]
SEEDS, UNJUDGED = 4, 5  # per class: stored validated / stored without a label
BATCH = 4  # small, so that every list is split into several batches and a ragged last one


def as_stored(value: float) -> float:
    """What the catalog gives back of a confidence or share (a PostgreSQL real)."""
    return float(np.float32(value))


async def _no_progress(done: int | None, total: int | None) -> None:
    return None


async def _single_query_vote(downstream: Downstream, model: str, image_id: int,
                             parents: dict[str, str | None]) -> Vote | None:
    """The vote as the refresh made it before batches: one search query per image."""
    hits = await downstream.search.query(model, k=K, metric="cosine", image_id=image_id,
                                         filter={"state": "validated"})
    return vote([(h.payload["label"], h.score) for h in hits if h.payload.get("label")], parents)


async def test_a_batched_full_refresh_equals_one_query_per_image(
        catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient) -> None:
    downstream = Downstream.over(http, "http://embedder", "http://search", "http://catalog",
                                 service_key=SERVICE_KEY)
    taxa = "name,rank,parent,aphia_id\n" + "".join(f"{c},,,\n" for c in CLASSES)
    await downstream.catalog.import_taxa(taxa.encode(), actor=None)
    contents = []
    for label in CLASSES:
        for n, path in enumerate(zoolake_images(label, SEEDS + UNJUDGED)):
            data = path.read_bytes()
            fields = {"label": label} if n < SEEDS else {}
            contents.append(Content(FilePart(path.name, "image/jpeg", data),
                                    hashlib.sha256(data).hexdigest(), fields))
    model = await ActiveModel(downstream).get()
    await index_contents(contents, downstream, model, concurrency=2)
    assert all(c.error is None for c in contents)

    sent_before = len(services.requests)
    report = await Refresher(downstream, model.name, None, _no_progress, batch=BATCH).run(
        incremental=False)
    searched = {r.url.path for r in services.requests[sent_before:] if r.url.host == "search"}
    assert searched == {f"/v1/collections/{model.name}/query/batch"}  # no query one by one
    batches = services.sent_to("search", f"/v1/collections/{model.name}/query/batch")
    assert len(batches) == -(-len(CLASSES) * SEEDS // BATCH) + -(-len(CLASSES) * UNJUDGED // BATCH)
    assert report.images == len(CLASSES) * UNJUDGED and report.revoted == len(CLASSES) * SEEDS

    catalog_ = downstream.catalog
    parents = await catalog_.taxon_parents()
    validated = await catalog_.human_validated(None)
    stored = (await catalog_.calibration(model.name)).calibration
    assert stored is not None
    expected_votes = {}
    for image_id, taxon in validated.items():
        found = await _single_query_vote(downstream, model.name, image_id, parents)
        if found is not None:
            expected_votes[str(image_id)] = [found.share, is_correct(found.taxon, taxon, parents)]
    assert stored["votes"] == expected_votes

    expected = {}
    for image_id in await catalog_.unjudged_ids(None):
        found = await _single_query_vote(downstream, model.name, image_id, parents)
        if found is not None:
            confidence = round(calibrate(stored, found.share), 4)
            expected[image_id] = (found.taxon, as_stored(confidence), as_stored(found.share))
    suggested = {row.id: (row.label, row.confidence, row.share)
                 for row in await catalog_.suggested(None)}
    assert len(expected) == len(CLASSES) * UNJUDGED
    assert suggested == expected
    assert report.changed == len(expected)
