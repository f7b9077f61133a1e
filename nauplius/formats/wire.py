"""Items as they travel to a job: file parts plus one JSON entry each, and refused sources.

An item whose entry the catalog would refuse (a NUL in a file name, a NaN in its metadata) is
refused here on its own, with the contract's reason, so one bad item never costs its batch."""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from nauplius.core.clients import FilePart
from nauplius.core.contracts.catalog import UploadEntry
from nauplius.formats.items import IngestItem, Refused

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def entry(item: IngestItem) -> dict[str, Any]:
    return {"filename": item.filename, "source": item.source, "label": item.label,
            "label_state": item.label_state, "instrument": item.instrument, "sample": item.sample,
            "captured_at": item.captured_at.isoformat() if item.captured_at else None,
            "metadata": item.metadata}


def checked(item: IngestItem) -> IngestItem | Refused:
    """The item, or its refusal naming the field when the catalog would refuse its entry."""
    try:
        UploadEntry.model_validate(entry(item))
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "entry"
        return Refused(item.source, f"{field}: {problem['msg'].removeprefix('Value error, ')}")
    return item


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _printable(text: str) -> str:
    return _UNPRINTABLE.sub(_escape, text)


def refusal(thing: Refused) -> dict[str, str]:
    """A refused source as a job records it, control characters written out (`\\x00`)."""
    return {"source": _printable(thing.source), "reason": _printable(thing.reason)}


def split_found(found: Iterable[IngestItem | Refused]) -> tuple[list[FilePart], list[dict], list[dict]]:
    parts, entries, refused = [], [], []
    for thing in found:
        thing = checked(thing) if isinstance(thing, IngestItem) else thing
        if isinstance(thing, Refused):
            refused.append(refusal(thing))
        else:
            parts.append(FilePart(thing.filename, "application/octet-stream", thing.data))
            entries.append(entry(thing))
    return parts, entries, refused
