"""What the repository takes: new images and labels. It answers the contracts' ImagePublic,
LabelPublic and LabelChange."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nauplius.core.contracts.catalog import DEFAULT_PROJECT_ID, LabelState


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
class NewLabel:
    taxon: str | None
    state: LabelState = "validated"
    annotator: str | None = None
    confidence: float | None = None
    taxon_id: int | None = None
    # Set when the writer is a known annotator (an API key); annotator then holds their name.
    annotator_id: int | None = None
    reverts_label_id: int | None = None
