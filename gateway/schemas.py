"""What the public /api/v1 answers that the gateway adds to the catalog's contracts.

An answer the catalog gives and the gateway passes through is the catalog's own model
(nauplius.core.contracts.catalog: TaxonPublic, ProjectList, ApiKeyCreated, JobStatus, ...), the
model card the embedder's (nauplius.core.contracts.embedder.ModelCard); here is only what the
gateway makes of them. Field order follows the JSON partners have always received.
"""

from typing import Any, Literal

from pydantic import BaseModel

from nauplius.core.contracts import catalog
from nauplius.core.contracts.catalog import ImagePublic, JobStatus, Role


# --- images --------------------------------------------------------------------------------
class Image(ImagePublic):
    thumbnail_url: str
    file_url: str


class ImagePage(BaseModel):
    """A page of images; `count` is None only on a cursor page filtered by `min_confidence`
    (the first page gave it); `next_cursor`, as `cursor`, asks for the next page (None: the
    last page)."""

    data: list[Image]
    count: int | None
    next_cursor: str | None = None


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


# --- who is calling -----------------------------------------------------------------------
class Me(BaseModel):
    annotator_id: int | None
    name: str | None
    institution: str | None
    role: Role


# --- labels and suggestions ----------------------------------------------------------------
class LabelsAssigned(catalog.LabelsAssigned):
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
    job: JobStatus


class SuggestionsAccepted(catalog.SuggestionsAccepted):
    # As in LabelsAssigned.
    suggestions_changed: int | None
    suggestions_job: int | None = None


class LabelCounts(BaseModel):
    unlabelled: int
    predicted: int
    validated: int
    dubious: int


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
