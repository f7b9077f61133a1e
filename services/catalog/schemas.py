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


class UploadedImage(ImagePublic):
    duplicate: bool


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


class LabelHistory(BaseModel):
    data: list[LabelPublic]


class IndexedRequest(BaseModel):
    model: str = Field(pattern=r"^[a-z0-9_-]+$", max_length=200)
