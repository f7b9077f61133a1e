"""Request and response bodies of the catalog's /v1 API: every route answers one of these."""

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    RootModel,
    WithJsonSchema,
    model_validator,
)

from nauplius.core.contracts.text import JsonObject, Line, Reason, Text

LabelState = Literal["predicted", "validated", "dubious", "unlabelled"]
LABEL_STATES: tuple[LabelState, ...] = get_args(LabelState)
Role = Literal["viewer", "annotator", "admin"]
# Created by migration 003: images uploaded without a project belong to it.
DEFAULT_PROJECT_ID = 1

Name = Field(min_length=1, max_length=500)
# The longest failure reason the catalog keeps for an item, a task or an outbox entry.
MAX_ERROR_LENGTH = 2000
OptionalText = Field(default=None, max_length=2000)
# Job times are answered as datetime.isoformat() writes them ("+00:00", not pydantic's "Z"), as
# they always were: the gateway passes them on to partners as text.
IsoTime = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CatalogHealth(BaseModel):
    status: Literal["ok"]
    service: Literal["catalog"]


# --- images -----------------------------------------------------------------------------------
class ImageFields(BaseModel):
    """What the bytes and the uploader say about an image: the fields every image answer starts with."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    sha256: str
    filename: str | None
    format: str
    width: int
    height: int
    instrument: str | None
    sample: str | None
    captured_at: datetime | None


class ImagePublic(ImageFields):
    metadata: dict[str, Any]
    created_at: datetime
    indexed_at: datetime | None
    indexed_model: str | None
    label: str | None
    label_state: LabelState
    label_confidence: float | None = None
    project_id: int
    created_by: int | None = None
    duplicate_of: int | None = None  # merged into that image: out of listings and the index


class UploadedImage(ImagePublic):
    duplicate: bool


class BatchEntry(BaseModel):
    """One file of a batch upload: the stored image, or why it was refused."""

    image: UploadedImage | None = None
    error: str | None = None


class UploadedBatch(BaseModel):
    data: list[BatchEntry]


class ImageList(BaseModel):
    """A page of images. `count`: the images matching the filters (None on a cursor page
    filtered by `min_confidence`, whose count the first page gave); `next_cursor`: give it as
    `cursor` for the next page (None on the last)."""

    data: list[ImagePublic]
    count: int | None
    next_cursor: str | None = None


class LookupRequest(BaseModel):
    ids: list[int] = Field(max_length=10_000)


class ImageLookup(BaseModel):
    data: list[ImagePublic]


class IndexedRequest(BaseModel):
    model: str = Field(pattern=r"^[a-z0-9_-]+$", max_length=200)


class IndexedManyRequest(IndexedRequest):
    ids: list[int] = Field(max_length=10_000)


class IndexedMany(BaseModel):
    updated: int


class Sha256LookupRequest(BaseModel):
    sha256: list[Line] = Field(max_length=10_000)


# --- upload entries ---------------------------------------------------------------------------
# What an upload says about its file: the form fields of POST /v1/images, one object of the
# `items` list of POST /v1/images/batch and POST /v1/jobs/{id}/items. Blank text is absent;
# text is a Line (nauplius.core.contracts.text), metadata a JsonObject.
def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _at_most(max_length: int) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is not None and len(value) > max_length:
            raise ValueError(f"is longer than {max_length} characters")
        return value

    return AfterValidator(check)


def _iso_datetime(value: Any) -> Any:
    """ISO 8601 text; a time without a UTC offset is taken as UTC."""
    value = _blank_is_none(value)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"is not an ISO 8601 date-time: {value[:100]!r}") from None
    if not isinstance(value, datetime):
        raise ValueError("must be an ISO 8601 date-time string")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json_object(value: Any) -> Any:
    """A JSON object, or its text (a form field); NaN and infinity have no JSON form."""
    value = _blank_is_none(value)
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_constant=_reject_constant)
        except ValueError as exc:
            raise ValueError(f"is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"must be a JSON object, not {type(value).__name__}")
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        raise ValueError("holds a number JSON cannot represent (NaN or infinity)") from None
    return value


def _validated_when_absent(value: Any) -> Any:
    value = _blank_is_none(value)
    return "validated" if value is None else value


EntryText = Annotated[Line | None, BeforeValidator(_blank_is_none), _at_most(1000)]
TaxonText = Annotated[Line | None, BeforeValidator(_blank_is_none), _at_most(500)]
PersonText = Annotated[Line | None, BeforeValidator(_blank_is_none), _at_most(200)]
SourceText = Annotated[Line | None, BeforeValidator(_blank_is_none), _at_most(4000)]
CapturedAt = Annotated[datetime | None, BeforeValidator(_iso_datetime)]
Metadata = Annotated[JsonObject, BeforeValidator(_json_object)]


class JobItemFields(BaseModel):
    """What a job item keeps for the store its worker sends it to (JOB_ITEM_FIELDS)."""

    model_config = ConfigDict(extra="forbid")

    label: TaxonText = None
    label_state: Annotated[LabelState, BeforeValidator(_validated_when_absent)] = "validated"
    instrument: EntryText = None
    sample: EntryText = None
    captured_at: CapturedAt = None
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _label_matches_state(self) -> "JobItemFields":
        if self.label is not None and self.label_state == "unlabelled":
            raise ValueError("label_state 'unlabelled' takes no label")
        return self


class UploadEntry(JobItemFields):
    """One upload's fields; `source` says where a job item came from (for its report)."""

    filename: EntryText = None
    source: SourceText = None
    project_id: int = Field(DEFAULT_PROJECT_ID, ge=1, strict=True)
    create_taxon: bool = Field(False, strict=True)
    annotator: PersonText = None


JOB_ITEM_FIELDS: tuple[str, ...] = tuple(JobItemFields.model_fields)


# --- labels -----------------------------------------------------------------------------------
class LabelCreate(Strict):
    taxon: Line | None = Field(default=None, min_length=1, max_length=500)
    annotator: Line | None = Field(default=None, max_length=200)
    state: LabelState = "validated"
    confidence: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _taxon_matches_state(self) -> "LabelCreate":
        if self.state == "unlabelled" and self.taxon is not None:
            raise ValueError("state 'unlabelled' takes no taxon")
        if self.state != "unlabelled" and self.taxon is None:
            raise ValueError(f"state {self.state!r} needs a taxon")
        return self


class LabelPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    image_id: int
    taxon: str | None
    annotator: str | None
    state: LabelState
    confidence: float | None
    created_at: datetime
    taxon_id: int | None = None
    annotator_id: int | None = None
    reverts_label_id: int | None = None


class LabelChange(LabelPublic):
    """A history entry with what it changed from."""

    previous_taxon: str | None
    previous_state: LabelState


class LabelHistory(BaseModel):
    data: list[LabelChange]


class BatchLabel(Strict):
    image_ids: list[int] = Field(min_length=1, max_length=10_000)
    taxon: Line | None = Field(default=None, min_length=1, max_length=500)
    state: LabelState = "validated"
    annotator: Line | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _taxon_matches_state(self) -> "BatchLabel":
        if (self.state == "unlabelled") != (self.taxon is None):
            raise ValueError("state 'unlabelled' takes no taxon; every other state needs one")
        if self.state == "predicted":
            raise ValueError("people assign 'validated' or 'dubious'; 'predicted' comes from suggestions")
        return self


class LabelsAssigned(BaseModel):
    labelled: int
    image_ids: list[int]


class RevertRequest(Strict):
    annotator: Line | None = Field(default=None, max_length=200)


class LabelCounts(RootModel[dict[LabelState, int]]):
    """How many images are in each label state."""


# --- taxa -------------------------------------------------------------------------------------
class TaxonIn(Strict):
    name: Line = Name
    rank: Line | None = Field(default=None, max_length=100)
    parent: Line | None = Field(default=None, min_length=1, max_length=500)
    aphia_id: int | None = Field(default=None, ge=1)


class TaxonPublic(BaseModel):
    """A taxon; `parent` is the parent's name."""

    id: int
    name: str
    rank: str | None
    parent_id: int | None
    aphia_id: int | None
    created_at: datetime
    created_by: int | None
    updated_at: datetime | None
    updated_by: int | None
    parent: str | None


class TaxonList(BaseModel):
    data: list[TaxonPublic]
    count: int


class TaxonUpdated(TaxonPublic):
    """The images whose current label was renamed with the taxon."""

    relabelled_image_ids: list[int]


class TaxaImported(BaseModel):
    created: int
    updated: int


# --- annotators and API keys ------------------------------------------------------------------
class AnnotatorCreate(Strict):
    name: Line = Name
    institution: Line | None = OptionalText


class AnnotatorPublic(BaseModel):
    id: int
    name: str
    institution: str | None
    created_at: datetime
    created_by: int | None


class AnnotatorList(BaseModel):
    data: list[AnnotatorPublic]


class ApiKeyCreate(Strict):
    annotator_id: int = Field(ge=1)
    role: Role


class ApiKeyPublic(BaseModel):
    id: int
    annotator_id: int
    key_prefix: str
    role: Role
    created_at: datetime
    created_by: int | None
    revoked_at: datetime | None
    revoked_by: int | None


class ApiKeyCreated(ApiKeyPublic):
    """The key itself: answered once, never stored."""

    key: str


class ApiKeyList(BaseModel):
    data: list[ApiKeyPublic]


class Principal(BaseModel):
    """Who a valid key speaks for."""

    key_id: int
    role: Role
    annotator_id: int
    name: str
    institution: str | None


# --- projects ---------------------------------------------------------------------------------
class GrantIn(Strict):
    """A role in a project for one grantee: everyone (every key), an institution (as the
    annotators' `institution` is written) or one annotator."""

    everyone: bool = False
    institution: Line | None = Field(default=None, min_length=1, max_length=2000)
    annotator_id: int | None = Field(default=None, ge=1)
    role: Role

    @model_validator(mode="after")
    def _one_grantee(self) -> "GrantIn":
        named = [self.everyone, self.institution is not None, self.annotator_id is not None]
        if sum(named) != 1:
            raise ValueError("name exactly one grantee: everyone (true), institution or annotator_id")
        return self


class GrantPublic(BaseModel):
    id: int
    project_id: int
    everyone: bool
    institution: str | None
    annotator_id: int | None
    annotator: str | None  # the annotator's name
    role: Role
    created_at: datetime
    created_by: int | None


class GrantList(BaseModel):
    data: list[GrantPublic]


class ProjectCreate(Strict):
    name: Line = Name
    description: Text | None = OptionalText
    # Who may work in it. Absent: everyone at their key's role (as every project before grants);
    # [] : nobody but admins until grants are added.
    grants: list[GrantIn] | None = Field(default=None, max_length=1000)


class ProjectPublic(BaseModel):
    id: int
    name: str
    description: str | None
    created_at: datetime
    created_by: int | None


class ProjectSummary(ProjectPublic):
    image_count: int
    # The caller's role in the project (None: a service's own call, bound by no grant).
    role: Role | None = None


class CallerScope(BaseModel):
    """The projects whose images the caller may read, and write; None: every project."""

    readable: list[int] | None
    writable: list[int] | None


class ProjectList(BaseModel):
    data: list[ProjectSummary]


class ImageIds(Strict):
    image_ids: list[int] = Field(min_length=1, max_length=10_000)


class ImagesMoved(BaseModel):
    moved: int
    image_ids: list[int]


# --- suggestions ------------------------------------------------------------------------------
class Prediction(Strict):
    image_id: int
    taxon: Line = Name
    confidence: float = Field(ge=0, le=1)
    # The raw vote share the confidence was calibrated from (re-mapped when the calibration moves).
    share: float | None = Field(default=None, ge=0, le=1)


class PredictionBatch(Strict):
    data: list[Prediction] = Field(max_length=10_000)


class PredictionsWritten(BaseModel):
    written: int


class AcceptSuggestions(Strict):
    taxon: Line = Name
    min_confidence: float = Field(ge=0, le=1)
    project_id: int | None = None
    instrument: Line | None = None
    image_ids: list[int] | None = Field(default=None, max_length=10_000)
    annotator: Line | None = Field(default=None, max_length=200)


class SuggestionsAccepted(BaseModel):
    validated: int
    image_ids: list[int]


class SuggestionGroup(BaseModel):
    taxon: str | None
    images: int
    confident: int
    min_confidence: float | None
    max_confidence: float | None


class SuggestionGroups(BaseModel):
    data: list[SuggestionGroup]


class Calibration(Strict):
    model: str = Field(pattern=r"^[a-z0-9_-]+$", max_length=200)
    calibration: JsonObject


class StoredCalibration(BaseModel):
    """A model's latest calibration; `calibration` null (and no `created_at`) when it has none."""

    model: str
    calibration: dict[str, Any] | None
    created_at: datetime | None = None


# --- export -----------------------------------------------------------------------------------
class ExportRow(ImageFields):
    """An image with its current label, the taxon's rank and AphiaID, and who labelled it."""

    created_at: datetime
    project_id: int
    project: str
    taxon: str | None
    state: LabelState | None
    confidence: float | None
    labelled_at: datetime | None
    annotator: str | None
    institution: str | None
    rank: str | None
    aphia_id: int | None


class ExportRows(BaseModel):
    """Export rows in id order; with a `limit`, `next_after_id` pages on (None: the last page)."""

    data: list[ExportRow]
    next_after_id: int | None = None


# --- ingest jobs ------------------------------------------------------------------------------
ItemStatus = Literal["pending", "running", "done", "duplicate", "failed"]
ITEM_STATUSES: tuple[ItemStatus, ...] = get_args(ItemStatus)


# --- job tasks (archive, suggestions, reconcile) -----------------------------------------------
JobKind = Literal["ingest", "archive", "suggestions", "reconcile", "clusters", "adaptation",
                  "reembed", "train"]
TaskKind = Literal["archive", "suggestions", "reconcile", "clusters", "adaptation", "reembed",
                   "train"]
TaskStatus = Literal["waiting", "pending", "running", "done", "failed"]


class JobTask(BaseModel):
    """The work of a job itself, by a worker; `total` is None while unknown."""

    status: TaskStatus
    attempts: int
    done: int
    total: int | None
    error: str | None
    result: dict[str, Any] | None


class TaskClaimRequest(BaseModel):
    kinds: list[TaskKind] = Field(min_length=1)
    lease_s: float = Field(default=120.0, gt=0, le=86400)


class ClaimedTask(BaseModel):
    id: int
    kind: TaskKind
    params: dict[str, Any]
    attempts: int
    created_by: int | None
    progress_done: int


class TaskClaim(BaseModel):
    task: ClaimedTask | None


class TaskProgress(BaseModel):
    done: int | None = Field(default=None, ge=0)
    total: int | None = Field(default=None, ge=0)
    lease_s: float = Field(default=120.0, gt=0, le=86400)


class TaskResult(BaseModel):
    outcome: Literal["done", "retry", "failed"]
    error: Reason | None = Field(default=None, max_length=MAX_ERROR_LENGTH)
    result: JsonObject | None = None
    retry_after_s: float = Field(default=0.0, ge=0, le=3600)




class JobCreate(BaseModel):
    source: Line | None = Field(default=None, max_length=1000)
    kind: JobKind = "ingest"
    # What a task job's worker needs (archive: filename, label_from_folder, defaults; suggestions:
    # mode, project; reconcile: repair).
    params: JsonObject = Field(default_factory=dict)


class JobError(BaseModel):
    source: str
    filename: str | None
    error: str | None


class JobStatus(BaseModel):
    id: int
    kind: JobKind = "ingest"
    task: JobTask | None = None  # None for an ingest job (its work is its items)
    source: str | None
    created_at: IsoTime
    created_by: int | None
    closed: bool
    finished: bool
    finished_at: IsoTime | None
    total: int
    counts: dict[ItemStatus, int]
    rate: float
    elapsed_s: float
    errors: list[JobError]


class JobList(BaseModel):
    data: list[JobStatus]


class JobItemsAdded(BaseModel):
    accepted: int
    refused: int


class ClaimRequest(BaseModel):
    limit: int = Field(default=32, ge=1, le=1000)
    lease_s: float = Field(default=120.0, gt=0, le=86400)
    # The staged bytes inline (base64 `data`), saving the worker one request per item.
    with_data: bool = False


class ClaimedItem(BaseModel):
    """A leased job item; `fields` holds its set JOB_ITEM_FIELDS. `data` (only when the claim
    asked `with_data`): the staged bytes as base64, null when none are staged."""

    id: int
    job_id: int
    sha256: str | None
    filename: str | None
    source: str
    fields: dict[str, Any]
    attempts: int
    created_by: int | None
    data: str | None = None


class ClaimedItems(BaseModel):
    data: list[ClaimedItem]


class ItemResult(BaseModel):
    id: int
    outcome: Literal["done", "retry", "failed"]
    image_id: int | None = None
    error: Reason | None = Field(default=None, max_length=MAX_ERROR_LENGTH)
    retry_after_s: float = Field(default=0.0, ge=0, le=3600)


class ItemResults(BaseModel):
    results: list[ItemResult] = Field(max_length=10_000)


class ResultsRecorded(BaseModel):
    """`released`: contents whose staged bytes were deleted."""

    updated: int
    released: int


# --- index outbox and what the worker pages through ---------------------------------------------
class OutboxClaimRequest(BaseModel):
    limit: int = Field(default=256, ge=1, le=10_000)
    lease_s: float = Field(default=120.0, gt=0, le=86400)


class OutboxEntry(BaseModel):
    image_id: int
    version: int
    attempts: int
    image: ImagePublic


class OutboxEntries(BaseModel):
    data: list[OutboxEntry]


class OutboxVersion(BaseModel):
    image_id: int
    version: int


class OutboxSettle(BaseModel):
    done: list[OutboxVersion] = Field(default_factory=list, max_length=10_000)
    retry: list[OutboxVersion] = Field(default_factory=list, max_length=10_000)
    error: Reason | None = Field(default=None, max_length=MAX_ERROR_LENGTH)
    retry_after_s: float = Field(default=0.0, ge=0, le=3600)


class OutboxSettled(BaseModel):
    removed: int


class OutboxStatus(BaseModel):
    pending: int


class IndexRow(BaseModel):
    """What the search payload of an image is made of (the reconciliation's side of the catalog)."""

    id: int
    label: str | None
    label_state: LabelState
    instrument: str | None
    sample: str | None
    project_id: int
    indexed_model: str | None


class IndexRows(BaseModel):
    data: list[IndexRow]
    next_after_id: int | None


class LabelledRow(BaseModel):
    id: int
    label: str | None
    confidence: float | None = None
    share: float | None = None  # a suggestion's raw vote share


class LabelledRows(BaseModel):
    data: list[LabelledRow]
    next_after_id: int | None


class LabelChanges(BaseModel):
    """Images whose label changed after `after_label_id` (every change but the suggestions')."""

    image_ids: list[int]
    next_after_label_id: int | None
    last_label_id: int


# Per-project adaptation heads (routes/adaptation.py): their models live in their own module,
# named here too, where the catalog's contracts are looked up.
from nauplius.core.contracts.adaptation import (  # noqa: E402, F401
    ActiveHead,
    AdaptationState,
    HeadIn,
    HeadPublic,
    RefitQueued,
)
