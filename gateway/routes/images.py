"""/api/v1/images: upload, browse, fetch bytes, label."""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import ActiveModelDep, DownstreamDep, SettingsDep
from gateway.errors import DownstreamRejected
from gateway.ingest import UploadMeta, ingest_batch
from gateway.routes.common import blank_to_none, stream_bytes, with_urls

log = logging.getLogger("nauplius.gateway")

router = APIRouter(prefix="/api/v1/images", tags=["images"])

OptionalForm = Annotated[str | None, Form()]


class LabelIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    taxon: str = Field(min_length=1, max_length=200)
    annotator: str | None = Field(default=None, max_length=200)


@router.post("")
async def upload_images(
    downstream: DownstreamDep,
    active_model: ActiveModelDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile], File(description="image files; repeat the field")],
    label: OptionalForm = None,
    instrument: OptionalForm = None,
    sample: OptionalForm = None,
) -> JSONResponse:
    if len(files) > settings.max_files_per_request:
        raise HTTPException(
            413, f"too many files: {len(files)}, at most {settings.max_files_per_request} per request"
        )
    meta = UploadMeta(blank_to_none(label), blank_to_none(instrument), blank_to_none(sample))
    outcomes = await ingest_batch(
        files,
        meta,
        downstream,
        active_model,
        max_upload_bytes=settings.max_upload_bytes,
        concurrency=settings.catalog_concurrency,
    )
    data = [o.public() for o in outcomes]
    if any(o.accepted for o in outcomes):
        return JSONResponse({"data": data})
    all_too_large = all(o.too_large for o in outcomes)
    detail = "every file was too large" if all_too_large else "no file was accepted"
    return JSONResponse({"detail": detail, "data": data}, status_code=413 if all_too_large else 422)


@router.get("")
async def list_images(
    downstream: DownstreamDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    page = await downstream.catalog.list_images(limit, offset)
    return {"data": [with_urls(image) for image in page["data"]], "count": page["count"]}


@router.get("/{image_id}")
async def get_image(image_id: int, downstream: DownstreamDep) -> dict[str, Any]:
    return with_urls(await downstream.catalog.get(image_id))


@router.get("/{image_id}/file")
async def get_file(image_id: int, downstream: DownstreamDep) -> StreamingResponse:
    return stream_bytes(await downstream.catalog.file(image_id))


@router.get("/{image_id}/thumbnail")
async def get_thumbnail(image_id: int, downstream: DownstreamDep) -> StreamingResponse:
    return stream_bytes(await downstream.catalog.thumbnail(image_id))


@router.put("/{image_id}/label")
async def set_label(
    image_id: int, body: LabelIn, downstream: DownstreamDep, active_model: ActiveModelDep
) -> dict[str, Any]:
    image = await downstream.catalog.set_label(image_id, body.taxon, body.annotator)
    model = await active_model.get()
    payload = {"label": image.get("label"), "state": image.get("label_state")}
    try:
        await downstream.search.set_payload(model.name, [image_id], payload)
    except DownstreamRejected as exc:
        # Not in the index yet (upload interrupted): the next upload of its bytes indexes it
        # with the catalog's label, so the catalog stays the source of truth.
        if exc.status_code != 404:
            raise
        log.warning("image %d labelled but not in collection %s", image_id, model.name)
    return with_urls(image)


@router.get("/{image_id}/labels")
async def label_history(image_id: int, downstream: DownstreamDep) -> dict[str, Any]:
    return await downstream.catalog.labels(image_id)
