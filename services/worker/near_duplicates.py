"""The near-duplicate check of an ingest batch: each newly stored image's nearest earlier
neighbour of the same project, instrument and sample, flagged in the catalog when its cosine is at
least WORKER_NEAR_DUPLICATE_COSINE.

It runs after the batch is upserted, as one batched search query, so images of one batch are
found as each other's neighbours too; only a neighbour with a smaller id (stored before) counts,
so a pair is flagged once, on the later image. An image without an instrument or a sample is not
checked: a sample is one water sample's run, where one organism passing the camera twice is the
duplicate to catch; across samples, alike organisms are distinct specimens."""

import base64
import logging

import numpy as np

from nauplius.core.active_model import ModelCard
from nauplius.core.clients import Downstream
from nauplius.core.contracts.duplicates import NearDuplicateIn
from nauplius.core.contracts.search import QueryFilter, QueryRequest
from nauplius.core.pipeline import Content

log = logging.getLogger("nauplius.worker")

# Neighbours asked per image: itself and batch mates come first, the earlier one after them.
NEIGHBOURS = 8


def _vector(vector_b64: str) -> list[float]:
    vector: list[float] = np.frombuffer(base64.b64decode(vector_b64), dtype=np.float32).tolist()
    return vector


async def find_near_duplicates(contents: list[Content], downstream: Downstream, model: ModelCard,
                               threshold: float) -> list[NearDuplicateIn]:
    checked = [c for c in contents if c.error is None and c.image is not None and not c.duplicate
               and c.vector_b64 is not None and c.image.instrument and c.image.sample]
    if not checked:
        return []
    queries = []
    for content in checked:
        assert content.image is not None and content.vector_b64 is not None
        image = content.image
        queries.append(QueryRequest(
            vector=_vector(content.vector_b64), k=NEIGHBOURS,
            filter=QueryFilter(instrument=image.instrument, sample=image.sample,
                               project=str(image.project_id))))
    answers = await downstream.search.query_batch(model.name, queries)
    flags = []
    for content, hits in zip(checked, answers, strict=True):
        assert content.image is not None
        earlier = [hit for hit in hits if hit.id < content.image.id]
        if earlier and earlier[0].score >= threshold:
            flags.append(NearDuplicateIn(image_id=content.image.id, of_image_id=earlier[0].id,
                                         cosine=min(1.0, earlier[0].score)))
    return flags


async def flag_near_duplicates(contents: list[Content], downstream: Downstream, model: ModelCard,
                               threshold: float) -> int:
    """How many images were flagged; a failure is logged and flags nothing (the ingest goes on)."""
    try:
        flags = await find_near_duplicates(contents, downstream, model, threshold)
        return await downstream.catalog.flag_near_duplicates(flags) if flags else 0
    except Exception:
        log.exception("near-duplicate check of %d images failed; ingested without it", len(contents))
        return 0
