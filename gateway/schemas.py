"""What the public /api/v1 answers: the catalog's contracts where an answer passes through, plus
what the gateway adds. Field order follows the JSON partners have always received. The model card
is the embedder's contract (nauplius.core.contracts.embedder.ModelCard)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, WithJsonSchema

from nauplius.core.contracts.catalog import ImagePublic

Role = Literal["viewer", "annotator", "admin"]
# The catalog writes job times with isoformat() ("+00:00", not pydantic's "Z"): kept as text so
# they reach partners unchanged.
IsoTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


# --- images --------------------------------------------------------------------------------
class Image(ImagePublic):
    thumbnail_url: str
    file_url: str


class ImagePage(BaseModel):
    data: list[Image]
    count: int


class UploadEntry(BaseModel):
    """One uploaded file, in the order sent: stored (`id`), or refused (`error`)."""

    id: int | None
    sha256: str | None
    duplicate: bool
    error: str | None


class UploadAnswer(BaseModel):
    data: list[UploadEntry]


class Neighbour(BaseModel):
    id: int
    score: float
    label: str | None
    thumbnail_url: str


class Neighbours(BaseModel):
    data: list[Neighbour]


class ExampleMatch(ImagePublic):
    score: float
    thumbnail_url: str


class ExampleMatches(BaseModel):
    data: list[ExampleMatch]
    offset: int
    more: bool


# --- taxonomy, projects, people and keys ---------------------------------------------------
class Taxon(BaseModel):
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
    data: list[Taxon]
    count: int


class TaxonUpdated(Taxon):
    relabelled_image_ids: list[int]


class TaxaImported(BaseModel):
    created: int
    updated: int


class Project(BaseModel):
    id: int
    name: str
    description: str | None
    created_at: datetime
    created_by: int | None


class ProjectSummary(Project):
    image_count: int


class ProjectList(BaseModel):
    data: list[ProjectSummary]


class ImagesMoved(BaseModel):
    moved: int
    image_ids: list[int]


class Me(BaseModel):
    annotator_id: int | None
    name: str | None
    institution: str | None
    role: Role


class AnnotatorPublic(BaseModel):
    id: int
    name: str
    institution: str | None
    created_at: datetime
    created_by: int | None


class AnnotatorList(BaseModel):
    data: list[AnnotatorPublic]


class ApiKey(BaseModel):
    id: int
    annotator_id: int
    key_prefix: str
    role: Role
    created_at: datetime
    created_by: int | None
    revoked_at: datetime | None
    revoked_by: int | None


class NewApiKey(ApiKey):
    key: str


class ApiKeyList(BaseModel):
    data: list[ApiKey]


# --- labels and suggestions ----------------------------------------------------------------
class LabelsAssigned(BaseModel):
    labelled: int
    image_ids: list[int]
    # The incremental suggestions refresh these validations start (a job): what it changed, or
    # None while it is still running when the answer goes out.
    suggestions_changed: int | None
    suggestions_job: int | None = None


class ReliabilityRow(BaseModel):
    low: float
    high: float
    n: int
    mean_confidence: float
    accuracy: float


class SuggestionRefresh(BaseModel):
    """A refresh is a job; these figures are its result (None while it still runs: 202)."""

    images: int | None
    changed: int | None
    calibrated_on: int | None
    reliability: list[ReliabilityRow]
    mode: Literal["full", "incremental"] | None = None
    revoted: int | None = None
    job: "Job"


class SuggestionGroup(BaseModel):
    taxon: str | None
    images: int
    confident: int
    min_confidence: float | None
    max_confidence: float | None


class SuggestionGroups(BaseModel):
    data: list[SuggestionGroup]


class SuggestionsAccepted(BaseModel):
    validated: int
    image_ids: list[int]
    suggestions_changed: int | None
    suggestions_job: int | None = None


class LabelCounts(BaseModel):
    unlabelled: int
    predicted: int
    validated: int
    dubious: int


# --- jobs ----------------------------------------------------------------------------------
class JobCounts(BaseModel):
    pending: int
    running: int
    done: int
    duplicate: int
    failed: int


class JobError(BaseModel):
    source: str
    filename: str | None
    error: str | None


class JobTask(BaseModel):
    """The work of a job itself (unpack an archive, refresh suggestions, reconcile), by a worker."""

    status: Literal["waiting", "pending", "running", "done", "failed"]
    attempts: int
    done: int
    total: int | None
    error: str | None
    result: dict[str, Any] | None


class Job(BaseModel):
    id: int
    kind: Literal["ingest", "archive", "suggestions", "reconcile"] = "ingest"
    task: JobTask | None = None
    source: str | None
    created_at: IsoTime
    created_by: int | None
    closed: bool
    finished: bool
    finished_at: IsoTime | None
    total: int
    counts: JobCounts
    rate: float
    elapsed_s: float
    errors: list[JobError]


class JobList(BaseModel):
    data: list[Job]


SuggestionRefresh.model_rebuild()


class JobItemsAdded(BaseModel):
    accepted: int
    refused: int


# --- health --------------------------------------------------------------------------------
class GatewayHealth(BaseModel):
    status: Literal["ok", "degraded"]
    service: str
    services: dict[str, str]
    detail: str | None = None


# --- answers that are not JSON (OpenAPI `responses`) ---------------------------------------
Responses = dict[int | str, dict[str, Any]]
IMAGE_BYTES: Responses = {200: {"description": "the image file as stored", "content": {
    media_type: {} for media_type in ("image/jpeg", "image/png", "image/tiff", "image/bmp")}}}
THUMBNAIL: Responses = {200: {"description": "a JPEG thumbnail", "content": {"image/jpeg": {}}}}
EXPORT_FILES: Responses = {200: {
    "description": "CSV (format=csv), EcoTaxa TSV (ecotaxa) or a Darwin Core Archive zip (dwca)",
    "content": {"text/csv": {}, "text/tab-separated-values": {}, "application/zip": {}}}}
