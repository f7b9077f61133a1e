"""Request and response bodies of the catalog's /v1 API."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

LabelState = Literal["predicted", "validated", "dubious", "unlabelled"]


class ImagePublic(BaseModel):
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
    metadata: dict[str, Any]
    created_at: datetime
    indexed_at: datetime | None
    indexed_model: str | None
    label: str | None
    label_state: LabelState
    label_confidence: float | None = None
    project_id: int
    created_by: int | None = None


class UploadedImage(ImagePublic):
    duplicate: bool


class BatchEntry(BaseModel):
    """One file of a batch upload: the stored image, or why it was refused."""

    image: UploadedImage | None = None
    error: str | None = None


class UploadedBatch(BaseModel):
    data: list[BatchEntry]


class ImageList(BaseModel):
    data: list[ImagePublic]
    count: int


class LookupRequest(BaseModel):
    ids: list[int] = Field(max_length=10_000)


class ImageLookup(BaseModel):
    data: list[ImagePublic]


class LabelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    taxon: str | None = Field(default=None, min_length=1, max_length=500, pattern=r"^[^\x00]*\S")
    annotator: str | None = Field(default=None, max_length=200, pattern=r"^[^\x00]*$")
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


class IndexedRequest(BaseModel):
    model: str = Field(pattern=r"^[a-z0-9_-]+$", max_length=200)


class IndexedManyRequest(IndexedRequest):
    ids: list[int] = Field(max_length=10_000)


class IndexedMany(BaseModel):
    updated: int


class Sha256LookupRequest(BaseModel):
    sha256: list[str] = Field(max_length=10_000)


Name = Field(min_length=1, max_length=500, pattern=r"^[^\x00]*\S[^\x00]*$")
OptionalText = Field(default=None, max_length=2000, pattern=r"^[^\x00]*$")
Role = Literal["viewer", "annotator", "admin"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AnnotatorCreate(Strict):
    name: str = Name
    institution: str | None = OptionalText


class ApiKeyCreate(Strict):
    annotator_id: int = Field(ge=1)
    role: Role


class ProjectCreate(Strict):
    name: str = Name
    description: str | None = OptionalText


class ImageIds(Strict):
    image_ids: list[int] = Field(min_length=1, max_length=10_000)


class TaxonIn(Strict):
    name: str = Name
    rank: str | None = Field(default=None, max_length=100, pattern=r"^[^\x00]*$")
    parent: str | None = Field(default=None, max_length=500, pattern=r"^[^\x00]*\S")
    aphia_id: int | None = Field(default=None, ge=1)


class BatchLabel(Strict):
    image_ids: list[int] = Field(min_length=1, max_length=10_000)
    taxon: str | None = Field(default=None, min_length=1, max_length=500, pattern=r"^[^\x00]*\S")
    state: LabelState = "validated"
    annotator: str | None = Field(default=None, max_length=200, pattern=r"^[^\x00]*$")

    @model_validator(mode="after")
    def _taxon_matches_state(self) -> "BatchLabel":
        if (self.state == "unlabelled") != (self.taxon is None):
            raise ValueError("state 'unlabelled' takes no taxon; every other state needs one")
        if self.state == "predicted":
            raise ValueError("people assign 'validated' or 'dubious'; 'predicted' comes from suggestions")
        return self


class RevertRequest(Strict):
    annotator: str | None = Field(default=None, max_length=200, pattern=r"^[^\x00]*$")


class Prediction(Strict):
    image_id: int
    taxon: str = Name
    confidence: float = Field(ge=0, le=1)


class PredictionBatch(Strict):
    data: list[Prediction] = Field(max_length=10_000)


class AcceptSuggestions(Strict):
    taxon: str = Name
    min_confidence: float = Field(ge=0, le=1)
    project_id: int | None = None
    instrument: str | None = None
    image_ids: list[int] | None = Field(default=None, max_length=10_000)
    annotator: str | None = Field(default=None, max_length=200, pattern=r"^[^\x00]*$")


class Calibration(Strict):
    model: str = Field(pattern=r"^[a-z0-9_-]+$", max_length=200)
    calibration: dict[str, Any]
