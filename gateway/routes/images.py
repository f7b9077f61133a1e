"""/api/v1/images: upload, browse, fetch bytes, label."""

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import Annotator, Viewer
from gateway.deps import ActiveModelDep, DownstreamDep, SettingsDep
from gateway.ingest import UploadMeta, ingest_batch
from gateway.routes.common import Cursor, Offset, blank_to_none, stream_bytes, with_urls
from gateway.schemas import IMAGE_BYTES, THUMBNAIL, Image, ImagePage, UploadAnswer
from nauplius.core.contracts.catalog import LabelHistory, LabelState
from nauplius.core.contracts.text import Line
from nauplius.core.index_sync import sync_images

log = logging.getLogger("nauplius.gateway")

router = APIRouter(prefix="/api/v1/images", tags=["images"])

OptionalForm = Annotated[Line | None, Form()]


class LabelIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    taxon: Line = Field(min_length=1, max_length=200)
    annotator: Line | None = Field(default=None, max_length=200)
    state: Literal["validated", "dubious"] = "validated"


@router.post("", response_model=UploadAnswer)
async def upload_images(
    downstream: DownstreamDep,
    active_model: ActiveModelDep,
    settings: SettingsDep,
    principal: Annotator,
    files: Annotated[list[UploadFile], File(description="image files; repeat the field")],
    label: OptionalForm = None,
    instrument: OptionalForm = None,
    sample: OptionalForm = None,
    project: Annotated[int | None, Form(ge=1, description="project id (default project 1)")] = None,
) -> JSONResponse:
    if len(files) > settings.max_files_per_request:
        raise HTTPException(
            413, f"too many files: {len(files)}, at most {settings.max_files_per_request} per request"
        )
    # An admin's upload adds the taxa its labels name (ingest --label-from-folder); anyone
    # else's labels must name taxa already in the tree.
    meta = UploadMeta(
        blank_to_none(label), blank_to_none(instrument), blank_to_none(sample), project,
        principal.annotator_id, create_taxon=principal.may("admin"),
    )
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


@router.get("", response_model=ImagePage)
async def list_images(
    downstream: DownstreamDep,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
    project: Annotated[int | None, Query(ge=1)] = None,
    state: Annotated[LabelState | None, Query()] = None,
    taxon: Annotated[
        Line | None, Query(description="current (or, with state=predicted, suggested) taxon")] = None,
    instrument: Line | None = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    order: Literal["newest", "confident", "uncertain"] = "newest",
    cursor: Cursor = None,
) -> ImagePage:
    """A page of images; follow `next_cursor` (as `cursor`) for the next one."""
    page = await downstream.catalog.list_images(
        limit, offset, project_id=project, state=state, label=taxon, instrument=instrument,
        min_confidence=min_confidence, order=order, cursor=cursor)
    return ImagePage(data=[with_urls(image) for image in page.data], count=page.count,
                     next_cursor=page.next_cursor)


@router.get("/{image_id}", response_model=Image)
async def get_image(image_id: int, downstream: DownstreamDep, _: Viewer) -> Image:
    return with_urls(await downstream.catalog.get(image_id))


@router.get("/{image_id}/file", response_class=StreamingResponse, responses=IMAGE_BYTES)
async def get_file(image_id: int, downstream: DownstreamDep, _: Viewer) -> StreamingResponse:
    return stream_bytes(await downstream.catalog.file(image_id))


@router.get("/{image_id}/thumbnail", response_class=StreamingResponse, responses=THUMBNAIL)
async def get_thumbnail(image_id: int, downstream: DownstreamDep, _: Viewer) -> StreamingResponse:
    return stream_bytes(await downstream.catalog.thumbnail(image_id))


@router.put("/{image_id}/label", response_model=Image)
async def set_label(
    image_id: int,
    body: LabelIn,
    downstream: DownstreamDep,
    active_model: ActiveModelDep,
    principal: Annotator,
) -> Image:
    # An admin's label adds a missing taxon to the tree; an annotator's must name one.
    image = await downstream.catalog.set_label(
        image_id, body.taxon, body.annotator, body.state, create_taxon=principal.may("admin"),
        actor=principal.annotator_id)
    await sync_images(downstream, active_model, [image])
    return with_urls(image)


@router.get("/{image_id}/labels", response_model=LabelHistory)
async def label_history(image_id: int, downstream: DownstreamDep, _: Viewer) -> LabelHistory:
    return await downstream.catalog.labels(image_id)
