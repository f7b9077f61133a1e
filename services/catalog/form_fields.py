"""Parsing the optional text fields of an upload form, with errors that name the field."""

import json
from datetime import UTC, datetime
from typing import Any

from services.catalog.errors import InvalidMetadata


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
