"""Domain objects of the catalog: what the repository returns and takes."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

LABEL_STATES = ("predicted", "validated", "dubious", "unlabelled")


@dataclass(frozen=True, slots=True)
class Image:
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
    label_state: str


@dataclass(frozen=True, slots=True)
class ImageDetails:
    """What the uploader says about an image (the bytes say the rest)."""

    filename: str | None = None
    instrument: str | None = None
    sample: str | None = None
    captured_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewImage:
    sha256: str
    format: str
    width: int
    height: int
    details: ImageDetails = field(default_factory=ImageDetails)


@dataclass(frozen=True, slots=True)
class Label:
    id: int
    image_id: int
    taxon: str | None
    annotator: str | None
    state: str
    confidence: float | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewLabel:
    taxon: str | None
    state: str = "validated"
    annotator: str | None = None
    confidence: float | None = None
