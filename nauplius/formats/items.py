"""What every reader yields: one image to ingest, or one source it had to refuse."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class IngestItem:
    """One image with what its source says about it. `data` is PNG/JPEG/TIFF/BMP bytes."""

    data: bytes
    filename: str
    source: str  # where it came from, for reports: a path, `archive.zip!member`, `bin#roi`
    label: str | None = None
    label_state: str | None = None  # None: "validated" when a label is given
    instrument: str | None = None
    sample: str | None = None
    captured_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Refused:
    """A source that yields nothing, with the reason (a broken bin, an unreadable archive)."""

    source: str
    reason: str


def too_large(source: str, size: int, limit: int | None) -> Refused | None:
    """The refusal of an item over the receiver's size limit (None: no limit, or within it)."""
    if limit is not None and size > limit:
        return Refused(source, f"file too large: more than {limit} bytes")
    return None
