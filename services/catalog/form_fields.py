"""Parsing the optional text fields of an upload form, with errors that name the field."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

from services.catalog.domain import DEFAULT_PROJECT_ID
from services.catalog.errors import InvalidMetadata
from services.catalog.schemas import LabelState


def text_field(name: str, value: str | None, max_length: int = 1000) -> str | None:
    """None for a missing or blank field; PostgreSQL text cannot hold NUL characters."""
    if value is None or not value.strip():
        return None
    if "\x00" in value:
        raise InvalidMetadata(f"{name} contains a NUL character")
    if len(value) > max_length:
        raise InvalidMetadata(f"{name} is longer than {max_length} characters")
    return value


def captured_at_field(value: str | None) -> datetime | None:
    """ISO 8601; a time without a UTC offset is taken as UTC."""
    if value is None or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidMetadata(
            f"captured_at is not an ISO 8601 date-time: {value[:100]!r}"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def metadata_field(value: str | None) -> dict[str, Any]:
    if value is None or not value.strip():
        return {}
    try:
        parsed = json.loads(value, parse_constant=_reject_constant)
    except ValueError as exc:
        raise InvalidMetadata(f"metadata is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidMetadata(f"metadata must be a JSON object, not {type(parsed).__name__}")
    if "\x00" in json.dumps(parsed, ensure_ascii=False):
        raise InvalidMetadata("metadata contains a NUL character")
    return parsed


def json_list(name: str, text: str | None) -> list[Any]:
    """A form field holding a JSON list; missing or blank is empty."""
    if text is None or not text.strip():
        return []
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidMetadata(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, list):
        raise InvalidMetadata(f"{name} must be a JSON list")
    return value


@dataclass(frozen=True, slots=True)
class UploadFields:
    """The form fields of one upload, as `POST /v1/images` takes them (each still to be checked
    by the parsers above)."""

    filename: str | None = None
    instrument: str | None = None
    sample: str | None = None
    captured_at: str | None = None
    metadata: str | None = None
    label: str | None = None
    annotator: str | None = None
    label_state: str = "validated"
    project_id: int = DEFAULT_PROJECT_ID
    create_taxon: bool = False

    @classmethod
    def from_entry(cls, entry: Any, where: str, default_filename: str | None) -> "UploadFields":
        """One entry of a batch's `items` list (a JSON object; metadata may be an object)."""
        if not isinstance(entry, dict):
            raise InvalidMetadata(f"{where} must be a JSON object")
        unknown = set(entry) - set(cls.__slots__)
        if unknown:
            raise InvalidMetadata(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
        texts = {}
        for key in ("filename", "instrument", "sample", "captured_at", "label", "annotator"):
            value = entry.get(key)
            if value is not None and not isinstance(value, str):
                raise InvalidMetadata(f"{where}.{key} must be a string")
            texts[key] = value
        metadata = entry.get("metadata")
        if metadata is not None and not isinstance(metadata, str):
            metadata = json.dumps(metadata)
        state = entry.get("label_state", "validated")
        if state not in get_args(LabelState):
            raise InvalidMetadata(f"{where}.label_state must be one of "
                                  f"{', '.join(get_args(LabelState))}, not {state!r}")
        project_id = entry.get("project_id", DEFAULT_PROJECT_ID)
        if not isinstance(project_id, int) or isinstance(project_id, bool) or project_id < 1:
            raise InvalidMetadata(f"{where}.project_id must be a positive integer")
        create_taxon = entry.get("create_taxon", False)
        if not isinstance(create_taxon, bool):
            raise InvalidMetadata(f"{where}.create_taxon must be true or false")
        return cls(**{**texts, "filename": texts["filename"] or default_filename},
                   metadata=metadata, label_state=state, project_id=project_id,
                   create_taxon=create_taxon)
