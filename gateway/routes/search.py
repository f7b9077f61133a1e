"""Similarity search: neighbours of a stored image, or of an uploaded one (nothing stored)."""

from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Query, UploadFile

from gateway.auth import Viewer
from gateway.deps import ActiveModelDep, DownstreamDep, SettingsDep
from gateway.ingest import UploadTooLarge, read_limited
from gateway.routes.common import thumbnail_url
from gateway.schemas import Neighbour, Neighbours
from nauplius.core import adapted_search
from nauplius.core.active_model import ModelCard
from nauplius.core.clients import Downstream, FilePart
from nauplius.core.contracts.search import MAX_RERANK
from nauplius.core.contracts.search import Metric as SearchMetric
from nauplius.core.contracts.text import Line

router = APIRouter(prefix="/api/v1", tags=["search"])

K = Annotated[int, Query(ge=1, le=200, description="how many neighbours")]
Metric = Annotated[SearchMetric, Query(description=(
    "cosine (score: cosine similarity, higher is better), euclidean (score: distance between the "
    "unit vectors, lower is better) or hamming (ranked by the Hamming distance d between binary "
    "codes of the vectors, 512 bits each, ties by id; score: the cosine it estimates, "
    "cos(pi * d / 512), or the exact cosine with rerank)"))]
Rerank = Annotated[int, Query(ge=0, le=MAX_RERANK, description=(
    "metric=hamming only: re-order the max(k, rerank) nearest by Hamming distance by exact cosine "
    "(the score is then that cosine); 0, the default: the Hamming ranking as it is"))]
LabelFilter = Annotated[Line | None, Query(description="only neighbours with this label")]


def _check_rerank(metric: str, rerank: int) -> None:
    if rerank and metric != "hamming":
        raise HTTPException(422, f"rerank applies to metric=hamming only, not to metric={metric}")


async def _neighbours(
    downstream: Downstream,
    model: ModelCard,
    *,
    k: int,
    metric: str,
    label: str | None,
    rerank: int,
    image_id: int | None = None,
    vector: list[float] | None = None,
) -> Neighbours:
    # Only what the caller may read: an example of another project is not found, and the index
    # is asked for neighbours in the readable projects only.
    head = None
    if image_id is not None:
        image = await downstream.catalog.get(image_id)
        if metric == "cosine":  # in the image's project's adapted space once its head is active
            head = await adapted_search.project_head(downstream.catalog, model.name, image.project_id)
    readable = (await downstream.catalog.scope()).readable
    hits = await downstream.search.query(
        model.name, k=k if head is None else adapted_search.pool_k(k), metric=metric, image_id=image_id,
        vector=vector, label=label, projects=readable, rerank=rerank,
    )
    if head is not None and image_id is not None:
        [hits] = await adapted_search.rerank(downstream.search, model.name, head, [image_id], [hits], k)
    hits = [hit for hit in hits if hit.id != image_id]
    images = await downstream.catalog.lookup([hit.id for hit in hits])
    labels = {image.id: image.label for image in images}
    return Neighbours(data=[
        Neighbour(id=hit.id, score=hit.score, label=labels[hit.id], thumbnail_url=thumbnail_url(hit.id))
        for hit in hits
        if hit.id in labels  # indexed but gone from the catalog: not shown
    ])


@router.get("/images/{image_id}/similar", response_model=Neighbours)
async def similar_images(
    image_id: int,
    downstream: DownstreamDep,
    active_model: ActiveModelDep,
    _: Viewer,
    k: K = 10,
    metric: Metric = "cosine",
    rerank: Rerank = 0,
    label: LabelFilter = None,
) -> Neighbours:
    _check_rerank(metric, rerank)
    model = await active_model.get()
    return await _neighbours(downstream, model, k=k, metric=metric, label=label, rerank=rerank,
                             image_id=image_id)


@router.post("/search", response_model=Neighbours)
async def search_by_upload(
    downstream: DownstreamDep,
    active_model: ActiveModelDep,
    settings: SettingsDep,
    _: Viewer,
    file: Annotated[UploadFile, File(description="the query image")],
    k: K = 10,
    metric: Metric = "cosine",
    rerank: Rerank = 0,
    label: LabelFilter = None,
) -> Neighbours:
    _check_rerank(metric, rerank)
    try:
        data = await read_limited(file, settings.max_upload_bytes)
    except UploadTooLarge:
        raise HTTPException(413, f"file too large: more than {settings.max_upload_bytes} bytes") from None
    if not data:
        raise HTTPException(422, "empty file")
    model = await active_model.get()
    part = FilePart(file.filename or "query", file.content_type or "application/octet-stream", data)
    [result] = await downstream.embedder.embed([part], model=model.name)
    if result.vector is None:
        raise HTTPException(422, f"query image refused: {result.error}")
    return await _neighbours(downstream, model, k=k, metric=metric, label=label, rerank=rerank,
                             vector=result.vector)
