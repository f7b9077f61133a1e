"""HTTP routes of the catalog's internal /v1 API."""

import re
from dataclasses import asdict
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from fastapi.responses import FileResponse

from services.catalog import access, queries, repository, taxonomy
from services.catalog.config import CatalogSettings
from services.catalog.decoding import MEDIA_TYPES
from services.catalog.deps import ActorDep, ConnectionDep, IngestorDep, SettingsDep
from services.catalog.domain import DEFAULT_PROJECT_ID, ImageDetails, NewLabel
from services.catalog.errors import (
    CatalogError,
    ImageTooLarge,
    InvalidMetadata,
    StoredFileMissing,
)
from services.catalog.form_fields import UploadFields, json_list
from services.catalog.ingest import Ingestor
from nauplius.core.contracts.catalog import (
    BatchEntry,
    ImageList,
    ImageLookup,
    ImagePublic,
    IndexedMany,
    IndexedManyRequest,
    IndexedRequest,
    LabelCreate,
    LabelChange,
    LabelHistory,
    LabelState,
    LookupRequest,
    Sha256LookupRequest,
    UploadedBatch,
    UploadedImage,
)

router = APIRouter()

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Content-addressed bytes never change under a URL of a given image.
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


@router.get("/health")
async def health(conn: ConnectionDep) -> dict[str, str]:
    await conn.fetchval(queries.HEALTH_CHECK)
    return {"status": "ok", "service": "catalog"}


@router.post("/v1/images", status_code=status.HTTP_201_CREATED, response_model=UploadedImage)
async def upload_image(
    conn: ConnectionDep,
    ingestor: IngestorDep,
    settings: SettingsDep,
    response: Response,
    file: Annotated[UploadFile, File()],
    filename: Annotated[str | None, Form()] = None,
    instrument: Annotated[str | None, Form()] = None,
    sample: Annotated[str | None, Form()] = None,
    captured_at: Annotated[str | None, Form()] = None,
    metadata: Annotated[str | None, Form()] = None,
    label: Annotated[str | None, Form()] = None,
    annotator: Annotated[str | None, Form()] = None,
    label_state: Annotated[LabelState, Form()] = "validated",
    project_id: Annotated[int, Form(ge=1)] = DEFAULT_PROJECT_ID,
    create_taxon: Annotated[bool, Form()] = False,
    actor: ActorDep = None,
) -> UploadedImage:
    fields = UploadFields(filename or file.filename, instrument, sample, captured_at, metadata,
                          label, annotator, label_state, project_id, create_taxon)
    stored = await _store(conn, ingestor, settings, file, fields, actor)
    if stored.duplicate:
        response.status_code = status.HTTP_200_OK
    return stored


@router.post("/v1/images/batch", response_model=UploadedBatch)
async def upload_images(
    conn: ConnectionDep,
    ingestor: IngestorDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile], File()],
    items: Annotated[str | None, Form(description="JSON list, one object of fields per file")] = None,
    actor: ActorDep = None,
) -> UploadedBatch:
    """Many uploads in one request, each stored (or refused, with the reason) on its own exactly
    as `POST /v1/images` would; one request per batch instead of one per image."""
    entries = json_list("items", items) or [{} for _ in files]
    if len(entries) != len(files):
        raise InvalidMetadata(f"items has {len(entries)} entries for {len(files)} files")
    results = []
    for position, (upload, entry) in enumerate(zip(files, entries)):
        try:
            fields = UploadFields.from_entry(entry, f"items[{position}]", upload.filename)
            results.append(BatchEntry(image=await _store(conn, ingestor, settings, upload,
                                                         fields, actor)))
        except CatalogError as refused:
            if refused.status_code >= 500:
                raise
            results.append(BatchEntry(error=refused.detail))
    return UploadedBatch(data=results)


async def _store(conn: asyncpg.Connection, ingestor: Ingestor, settings: CatalogSettings,
                 file: UploadFile, fields: UploadFields, actor: int | None) -> UploadedImage:
    # Every field is checked before the bytes are looked at, so nothing is stored on bad input.
    checked = fields.checked()
    details = ImageDetails(
        filename=checked.filename,
        instrument=checked.instrument,
        sample=checked.sample,
        captured_at=checked.captured_at,
        metadata=checked.metadata,
        project_id=checked.project_id,
        created_by=actor,
    )
    await access.get_project(conn, checked.project_id)
    new_label = None
    if checked.label is not None:
        if not checked.create_taxon:  # refuse an unknown taxon before the bytes are stored
            await taxonomy.resolve_taxon(conn, checked.label)
        new_label = NewLabel(checked.label, checked.label_state, checked.annotator,
                             annotator_id=actor)
    data = await file.read(settings.max_image_bytes + 1)
    if len(data) > settings.max_image_bytes:
        raise ImageTooLarge(f"file is over the limit of {settings.max_image_bytes} bytes")
    image, duplicate = await ingestor.store_upload(
        conn, data, details, new_label, fields.create_taxon
    )
    return UploadedImage(**asdict(image), duplicate=duplicate)


@router.get("/v1/images", response_model=ImageList)
async def list_images(
    conn: ConnectionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    label: str | None = None,
    state: LabelState | None = None,
    project_id: int | None = None,
    instrument: str | None = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    order: Literal["newest", "confident", "uncertain"] = "newest",
) -> ImageList:
    """A page of images; `order=confident|uncertain` with `state=predicted` is the review queue."""
    images, count = await repository.list_images(
        conn, limit, offset, label=label, state=state, project_id=project_id,
        instrument=instrument, min_confidence=min_confidence, order=order,
    )
    return ImageList(data=[ImagePublic.model_validate(i) for i in images], count=count)


@router.get("/v1/images/unindexed", response_model=ImageLookup)
async def unindexed_images(
    conn: ConnectionDep,
    model: Annotated[str, Query(min_length=1, max_length=200)],
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 64,
) -> ImageLookup:
    """Images not indexed in `model` (after a model change), in id order after `after_id`."""
    images = await repository.unindexed_images(conn, model, after_id, limit)
    return ImageLookup(data=[ImagePublic.model_validate(i) for i in images])


@router.post("/v1/images/lookup", response_model=ImageLookup)
async def lookup_images(conn: ConnectionDep, body: LookupRequest) -> ImageLookup:
    images = await repository.lookup_images(conn, body.ids)
    return ImageLookup(data=[ImagePublic.model_validate(i) for i in images])


@router.post("/v1/images/by-sha256", response_model=ImageLookup)
async def lookup_by_sha256(conn: ConnectionDep, body: Sha256LookupRequest) -> ImageLookup:
    """The known images among many contents (one call per batch instead of one per image)."""
    sha256s = [s.lower() for s in body.sha256]
    bad = [s for s in sha256s if not _SHA256.match(s)]
    if bad:
        raise InvalidMetadata(f"sha256 must be 64 hexadecimal characters, not {bad[0][:80]!r}")
    images = await repository.lookup_by_sha256(conn, sha256s)
    return ImageLookup(data=[ImagePublic.model_validate(i) for i in images])


@router.get("/v1/images/by-sha256/{sha256}", response_model=ImagePublic)
async def get_image_by_sha256(conn: ConnectionDep, sha256: str) -> ImagePublic:
    sha256 = sha256.lower()
    if not _SHA256.match(sha256):
        raise InvalidMetadata("sha256 must be 64 hexadecimal characters")
    return ImagePublic.model_validate(await repository.get_image_by_sha256(conn, sha256))


@router.get("/v1/images/{image_id}", response_model=ImagePublic)
async def get_image(conn: ConnectionDep, image_id: int) -> ImagePublic:
    return ImagePublic.model_validate(await repository.get_image(conn, image_id))


@router.get("/v1/images/{image_id}/file")
async def get_image_file(conn: ConnectionDep, ingestor: IngestorDep, image_id: int) -> FileResponse:
    image = await repository.get_image(conn, image_id)
    path = ingestor.store.image_path(image.sha256, image.format)
    if not path.is_file():
        raise StoredFileMissing(f"the bytes of image {image_id} are missing from storage")
    return FileResponse(path, media_type=MEDIA_TYPES[image.format], headers=_IMMUTABLE)


@router.get("/v1/images/{image_id}/thumbnail")
async def get_thumbnail(conn: ConnectionDep, ingestor: IngestorDep, image_id: int) -> FileResponse:
    image = await repository.get_image(conn, image_id)
    path = ingestor.store.thumbnail_path(image.sha256)
    if not path.is_file():
        raise StoredFileMissing(f"the thumbnail of image {image_id} is missing from storage")
    return FileResponse(path, media_type="image/jpeg", headers=_IMMUTABLE)


@router.put("/v1/images/{image_id}/label", response_model=ImagePublic)
async def set_label(
    conn: ConnectionDep, actor: ActorDep, image_id: int, body: LabelCreate,
    create_taxon: bool = False,
) -> ImagePublic:
    async with conn.transaction():
        taxon_id = None if body.taxon is None else await taxonomy.resolve_taxon(
            conn, body.taxon, create=create_taxon, actor=actor
        )
        new = NewLabel(body.taxon, body.state, body.annotator, body.confidence, taxon_id, actor)
        await repository.append_label(conn, image_id, new)
    return ImagePublic.model_validate(await repository.get_image(conn, image_id))


@router.get("/v1/images/{image_id}/labels", response_model=LabelHistory)
async def get_label_history(conn: ConnectionDep, image_id: int) -> LabelHistory:
    labels = await repository.label_history(conn, image_id)
    return LabelHistory(data=[LabelChange.model_validate(label) for label in labels])


@router.post("/v1/images/indexed", response_model=IndexedMany)
async def mark_indexed_many(conn: ConnectionDep, body: IndexedManyRequest) -> IndexedMany:
    """Marks a batch indexed in one statement; `updated` counts the ids that exist."""
    return IndexedMany(updated=await repository.mark_indexed_many(conn, body.ids, body.model))


@router.post("/v1/images/{image_id}/indexed", response_model=ImagePublic)
async def mark_indexed(conn: ConnectionDep, image_id: int, body: IndexedRequest) -> ImagePublic:
    return ImagePublic.model_validate(await repository.mark_indexed(conn, image_id, body.model))
