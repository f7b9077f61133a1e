"""Items as they travel to a job: file parts plus one JSON entry each, and refused sources."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nauplius.core.clients import FilePart
from nauplius.formats.items import IngestItem, Refused


def entry(item: IngestItem) -> dict[str, Any]:
    return {"filename": item.filename, "source": item.source, "label": item.label,
            "label_state": item.label_state, "instrument": item.instrument, "sample": item.sample,
            "captured_at": item.captured_at.isoformat() if item.captured_at else None,
            "metadata": item.metadata}


def split_found(found: Iterable[IngestItem | Refused]) -> tuple[list[FilePart], list[dict], list[dict]]:
    parts, entries, refused = [], [], []
    for thing in found:
        if isinstance(thing, Refused):
            refused.append({"source": thing.source, "reason": thing.reason})
        else:
            parts.append(FilePart(thing.filename, "application/octet-stream", thing.data))
            entries.append(entry(thing))
    return parts, entries, refused
