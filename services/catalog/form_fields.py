"""Parsing the optional text fields of an upload form, with errors that name the field."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

from services.catalog.domain import DEFAULT_PROJECT_ID
from services.catalog.errors import InvalidMetadata
from nauplius.core.contracts.catalog import LabelState


def text_field(name: str, value: Any, max_length: int = 1000) -> str | None:
    """None for a missing or blank field; PostgreSQL text cannot hold NUL characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidMetadata(f"{name} must be a string")
    if not value.strip():
        return None
    if "\x00" in value:
        raise InvalidMetadata(f"{name} contains a NUL character")
    if len(value) > max_length:
        raise InvalidMetadata(f"{name} is longer than {max_length} characters")
    return value


def captured_at_field(value: Any, name: str = "captured_at") -> datetime | None:
    """ISO 8601; a time without a UTC offset is taken as UTC."""
    value = text_field(name, value)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidMetadata(f"{name} is not an ISO 8601 date-time: {value[:100]!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def metadata_field(value: str | dict | None, name: str = "metadata") -> dict[str, Any]:
    """A JSON object, as form text or already parsed (a batch entry's object)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value, parse_constant=_reject_constant)
        except ValueError as exc:
            raise InvalidMetadata(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidMetadata(f"{name} must be a JSON object, not {type(parsed).__name__}")
    try:
        text = json.dumps(parsed, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise InvalidMetadata(f"{name} holds a number JSON cannot represent (NaN or infinity)")
    if "\x00" in text:
        raise InvalidMetadata(f"{name} contains a NUL character")
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
class CheckedUpload:
    """An upload's fields, checked and parsed as the catalog stores them."""

    filename: str | None
    instrument: str | None
    sample: str | None
    captured_at: datetime | None
    metadata: dict[str, Any]
    label: str | None
    annotator: str | None
    label_state: str
    project_id: int
    create_taxon: bool


@dataclass(frozen=True, slots=True)
class UploadFields:
    """The form fields of one upload, as `POST /v1/images` takes them; `checked` checks them.

    The one place an upload's fields are checked: the catalog's store, its batch store and the
    ingest jobs' intake all use it, so a job never accepts an item its store would refuse."""

    filename: str | None = None
    instrument: str | None = None
    sample: str | None = None
    captured_at: str | None = None
    metadata: str | dict | None = None
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
        texts = {key: entry.get(key)  # their types and values are left to `checked`
                 for key in ("filename", "instrument", "sample", "captured_at", "label", "annotator")}
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
                   metadata=entry.get("metadata"), label_state=state, project_id=project_id,
                   create_taxon=create_taxon)

    def checked(self, where: str = "") -> CheckedUpload:
        """Every field checked and parsed; errors name the field (prefixed with `where`)."""
        def name(key: str) -> str:
            return f"{where}.{key}" if where else key

        label = text_field(name("label"), self.label, max_length=500)
        if label is not None and self.label_state == "unlabelled":
            raise InvalidMetadata(f"{name('label_state')} 'unlabelled' takes no label")
        return CheckedUpload(
            filename=text_field(name("filename"), self.filename),
            instrument=text_field(name("instrument"), self.instrument),
            sample=text_field(name("sample"), self.sample),
            captured_at=captured_at_field(self.captured_at, name("captured_at")),
            metadata=metadata_field(self.metadata, name("metadata")),
            label=label,
            annotator=text_field(name("annotator"), self.annotator, max_length=200),
            label_state=self.label_state,
            project_id=self.project_id,
            create_taxon=self.create_taxon,
        )
