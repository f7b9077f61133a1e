"""Domain objects of the catalog: what the repository returns and takes."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Created by migration 003: images uploaded without a project belong to it.
DEFAULT_PROJECT_ID = 1


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
    label_confidence: float | None = None
    project_id: int = DEFAULT_PROJECT_ID
    created_by: int | None = None


@dataclass(frozen=True, slots=True)
class ImageDetails:
    """What the uploader says about an image (the bytes say the rest)."""

    filename: str | None = None
    instrument: str | None = None
    sample: str | None = None
    captured_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    project_id: int = DEFAULT_PROJECT_ID
    created_by: int | None = None


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
    taxon_id: int | None = None
    annotator_id: int | None = None
    reverts_label_id: int | None = None


@dataclass(frozen=True, slots=True)
class NewLabel:
    taxon: str | None
    state: str = "validated"
    annotator: str | None = None
    confidence: float | None = None
    taxon_id: int | None = None
    # Set when the writer is a known annotator (an API key); annotator then holds their name.
    annotator_id: int | None = None
    reverts_label_id: int | None = None


@dataclass(frozen=True, slots=True)
class LabelChange(Label):
    """A history entry with what it changed from."""

    previous_taxon: str | None = None
    previous_state: str = "unlabelled"
