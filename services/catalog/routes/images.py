"""/v1/images: uploads (one, or a batch), lookups and pages, the bytes, and marks of indexing."""

import re
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from fastapi.responses import FileResponse

from nauplius.core.contracts.catalog import (
    DEFAULT_PROJECT_ID,
    BatchEntry,
    ImageList,
    ImageLookup,
    ImagePublic,
    IndexedMany,
    IndexedManyRequest,
    IndexedRequest,
    IndexRow,
    IndexRows,
    LabelledRow,
    LabelledRows,
    LabelState,
    LookupRequest,
    Sha256LookupRequest,
    UploadedBatch,
    UploadedImage,
    UploadEntry,
)
from services.catalog import access, queries, repository, taxonomy
from services.catalog.config import CatalogSettings
from services.catalog.decoding import MEDIA_TYPES
from services.catalog.deps import ActorDep, ConnectionDep, IngestorDep, ScopeDep, SettingsDep
from services.catalog.domain import ImageDetails, NewLabel
from services.catalog.entries import json_list, upload_entry, with_default_filename
from services.catalog.errors import (
    CatalogError,
    Conflict,
    ImageTooLarge,
    InvalidMetadata,
    StoredFileMissing,
)
from services.catalog.ingest import Ingestor

router = APIRouter(prefix="/v1/images")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Content-addressed bytes never change under a URL of a given image.
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
_IMAGE_BYTES: dict[int | str, dict[str, Any]] = {
    200: {"content": {media_type: {} for media_type in MEDIA_TYPES.values()}}}
_JPEG_BYTES: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}}}


@router.post("", status_code=status.HTTP_201_CREATED)
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
    scope: ScopeDep = access.UNBOUND,
) -> UploadedImage:
    """201 with the new image, or 200 with the known one (`duplicate`) when the bytes are."""
    entry = upload_entry({
        "filename": filename or file.filename, "instrument": instrument, "sample": sample,
        "captured_at": captured_at, "metadata": metadata, "label": label, "annotator": annotator,
        "label_state": label_state, "project_id": project_id, "create_taxon": create_taxon,
    })
    stored = await _store(conn, ingestor, settings, file, entry, actor, scope)
    if stored.duplicate:
        response.status_code = status.HTTP_200_OK
    return stored


@router.post("/batch")
async def upload_images(
    conn: ConnectionDep,
    ingestor: IngestorDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile], File()],
    items: Annotated[str | None, Form(description="JSON list, one UploadEntry per file")] = None,
    actor: ActorDep = None,
    scope: ScopeDep = access.UNBOUND,
) -> UploadedBatch:
    """Many uploads in one request, each stored (or refused, with the reason) on its own exactly
    as `POST /v1/images` would; one request per batch instead of one per image."""
    entries = json_list("items", items) or [{} for _ in files]
    if len(entries) != len(files):
        raise InvalidMetadata(f"items has {len(entries)} entries for {len(files)} files")
    results = []
    for position, (upload, raw) in enumerate(zip(files, entries, strict=True)):
        try:
            entry = upload_entry(with_default_filename(raw, upload.filename), f"items[{position}]")
            results.append(BatchEntry(image=await _store(conn, ingestor, settings, upload,
                                                         entry, actor, scope)))
        except CatalogError as refused:
            if refused.status_code >= 500:
                raise
            results.append(BatchEntry(error=refused.detail))
    return UploadedBatch(data=results)


async def _store(conn: asyncpg.Connection, ingestor: Ingestor, settings: CatalogSettings,
                 file: UploadFile, entry: UploadEntry, actor: int | None,
                 scope: access.Scope) -> UploadedImage:
    # Every field is checked before the bytes are looked at, so nothing is stored on bad input.
    await access.get_project(conn, entry.project_id)
    scope.require(entry.project_id, "annotator", "uploading")
    new_label = None
    if entry.label is not None:
        if not entry.create_taxon:  # refuse an unknown taxon before the bytes are stored
            await taxonomy.resolve_taxon(conn, entry.label)
        new_label = NewLabel(entry.label, entry.label_state, entry.annotator, annotator_id=actor)
    data = await file.read(settings.max_image_bytes + 1)
    if len(data) > settings.max_image_bytes:
        raise ImageTooLarge(f"file is over the limit of {settings.max_image_bytes} bytes")
    details = ImageDetails(
        filename=entry.filename, instrument=entry.instrument, sample=entry.sample,
        captured_at=entry.captured_at, metadata=entry.metadata, project_id=entry.project_id,
        created_by=actor,
    )
    image, duplicate = await ingestor.store_upload(
        conn, data, details, new_label, entry.create_taxon
    )
    if duplicate and not scope.allows(image.project_id, "viewer"):
        # Content-addressed: the bytes are there once, in a project this caller may not see.
        raise Conflict("these bytes are stored already, in a project you cannot read")
    return UploadedImage(**image.model_dump(), duplicate=duplicate)


@router.get("")
async def list_images(
    conn: ConnectionDep,
    scope: ScopeDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    label: str | None = None,
    state: LabelState | None = None,
    project_id: int | None = None,
    instrument: str | None = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    order: Literal["newest", "confident", "uncertain"] = "newest",
    cursor: Annotated[str | None, Query(
        max_length=2000, description="`next_cursor` of the page before (keyset paging)")] = None,
) -> ImageList:
    """A page of the images the caller may read; `order=confident|uncertain` with
    `state=predicted` is the review queue. Deep pages: follow `next_cursor` (as fast as the
    first page); `offset` reads and skips every row before the page."""
    if cursor is not None and offset:
        raise InvalidMetadata("give cursor or offset, not both")
    if project_id is not None:
        scope.require(project_id, "viewer", "listing the images")
    page = await repository.list_images(
        conn, limit, offset, label=label, state=state, project_id=project_id,
        instrument=instrument, min_confidence=min_confidence, order=order,
        projects=scope.projects("viewer"), cursor=cursor,
    )
    return ImageList(data=page.images, count=page.total, next_cursor=page.next_cursor)


@router.get("/unindexed")
async def unindexed_images(
    conn: ConnectionDep,
    model: Annotated[str, Query(min_length=1, max_length=200)],
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 64,
) -> ImageLookup:
    """Images not indexed in `model` (after a model change), in id order after `after_id`."""
    return ImageLookup(data=await repository.unindexed_images(conn, model, after_id, limit))


@router.get("/index-rows")
async def index_rows(
    conn: ConnectionDep,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> IndexRows:
    """Every image's id and search-payload fields in id order, paged by id (reconciliation)."""
    rows = [IndexRow.model_validate(dict(r))
            for r in await conn.fetch(queries.SELECT_INDEX_ROWS, after_id, limit)]
    return IndexRows(data=rows, next_after_id=rows[-1].id if len(rows) == limit else None)


@router.get("/labels")
async def labelled_ids(
    conn: ConnectionDep,
    states: Annotated[list[LabelState], Query(min_length=1)],
    project_id: int | None = None,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    human_only: bool = False,
) -> LabelledRows:
    """Ids and labels of the images in these states, paged by id; `human_only` keeps labels a
    person set looking at the image (not suggestions accepted in bulk)."""
    records = await conn.fetch(queries.SELECT_LABELLED_IDS, states, project_id, after_id, limit,
                               human_only)
    rows = [LabelledRow.model_validate(dict(r)) for r in records]
    return LabelledRows(data=rows, next_after_id=rows[-1].id if len(rows) == limit else None)


@router.post("/lookup")
async def lookup_images(conn: ConnectionDep, scope: ScopeDep, body: LookupRequest) -> ImageLookup:
    """The images of these ids the caller may read, in the order asked."""
    return ImageLookup(data=await repository.lookup_images(conn, body.ids,
                                                           scope.projects("viewer")))


@router.post("/by-sha256")
async def lookup_by_sha256(
    conn: ConnectionDep, scope: ScopeDep, body: Sha256LookupRequest
) -> ImageLookup:
    """The known images among many contents (one call per batch instead of one per image)."""
    sha256s = [s.lower() for s in body.sha256]
    bad = [s for s in sha256s if not _SHA256.match(s)]
    if bad:
        raise InvalidMetadata(f"sha256 must be 64 hexadecimal characters, not {bad[0][:80]!r}")
    return ImageLookup(data=await repository.lookup_by_sha256(conn, sha256s,
                                                              scope.projects("viewer")))


@router.get("/by-sha256/{sha256}")
async def get_image_by_sha256(conn: ConnectionDep, scope: ScopeDep, sha256: str) -> ImagePublic:
    sha256 = sha256.lower()
    if not _SHA256.match(sha256):
        raise InvalidMetadata("sha256 must be 64 hexadecimal characters")
    return await repository.get_image_by_sha256(conn, sha256, scope.projects("viewer"))


@router.get("/{image_id}")
async def get_image(conn: ConnectionDep, scope: ScopeDep, image_id: int) -> ImagePublic:
    """404 also for an image of a project the caller may not read: its existence stays hidden."""
    return await repository.get_image(conn, image_id, scope.projects("viewer"))


@router.get("/{image_id}/file", response_class=FileResponse, responses=_IMAGE_BYTES)
async def get_image_file(conn: ConnectionDep, ingestor: IngestorDep, scope: ScopeDep,
                         image_id: int) -> FileResponse:
    image = await repository.get_image(conn, image_id, scope.projects("viewer"))
    path = ingestor.store.image_path(image.sha256, image.format)
    if not path.is_file():
        raise StoredFileMissing(f"the bytes of image {image_id} are missing from storage")
    return FileResponse(path, media_type=MEDIA_TYPES[image.format], headers=_IMMUTABLE)


@router.get("/{image_id}/thumbnail", response_class=FileResponse, responses=_JPEG_BYTES)
async def get_thumbnail(conn: ConnectionDep, ingestor: IngestorDep, scope: ScopeDep,
                        image_id: int) -> FileResponse:
    image = await repository.get_image(conn, image_id, scope.projects("viewer"))
    path = ingestor.store.thumbnail_path(image.sha256)
    if not path.is_file():
        raise StoredFileMissing(f"the thumbnail of image {image_id} is missing from storage")
    return FileResponse(path, media_type="image/jpeg", headers=_IMMUTABLE)


@router.post("/indexed")
async def mark_indexed_many(conn: ConnectionDep, body: IndexedManyRequest) -> IndexedMany:
    """Marks a batch indexed in one statement; `updated` counts the ids that exist."""
    return IndexedMany(updated=await repository.mark_indexed_many(conn, body.ids, body.model))


@router.post("/{image_id}/indexed")
async def mark_indexed(conn: ConnectionDep, image_id: int, body: IndexedRequest) -> ImagePublic:
    return await repository.mark_indexed(conn, image_id, body.model)
