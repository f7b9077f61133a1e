"""Upload entries as routes receive them (form fields, or the JSON `items` list of a batch or a
job), checked by the contract's UploadEntry; a problem is a 422 naming the field, as in
`items[3].captured_at: is not an ISO 8601 date-time: 'noon'`."""

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from nauplius.core.contracts.catalog import JOB_ITEM_FIELDS, UploadEntry
from services.catalog.errors import InvalidMetadata

_ENTRIES = TypeAdapter(list[UploadEntry])
_JSON_LIST = TypeAdapter(list[Any])
MAX_PROBLEMS_SHOWN = 5
# Pydantic's words where they name its own types rather than the JSON sent.
_MESSAGES = {"extra_forbidden": "unknown field", "model_type": "must be a JSON object",
             "model_attributes_type": "must be a JSON object"}
# A job's items are stored in the default project as the job's creator, their taxa made before
# the job: these fields of a direct upload have no place in a job item.
_NOT_FOR_JOBS = frozenset(UploadEntry.model_fields) - {"filename", "source", *JOB_ITEM_FIELDS}


def _where(prefix: str, location: tuple[int | str, ...]) -> str:
    path = prefix + "".join(f"[{part}]" if isinstance(part, int) else f".{part}"
                            for part in location)
    return path.removeprefix(".")


def problem(error: ValidationError, prefix: str = "") -> InvalidMetadata:
    """The first problems of `error`, each named by its field."""
    messages = []
    for detail in error.errors()[:MAX_PROBLEMS_SHOWN]:
        if detail["type"] == "value_error":
            message = str(detail["ctx"]["error"])
        else:
            message = _MESSAGES.get(detail["type"], detail["msg"])
        where = _where(prefix, detail["loc"])
        messages.append(f"{where}: {message}" if where else message)
    return InvalidMetadata("; ".join(messages))


def upload_entry(fields: Any, prefix: str = "") -> UploadEntry:
    try:
        return UploadEntry.model_validate(fields)
    except ValidationError as exc:
        raise problem(exc, prefix) from None


def upload_entries(name: str, text: str | None) -> list[UploadEntry]:
    """A form field holding a JSON list of entries, every one checked; missing or blank is []."""
    if text is None or not text.strip():
        return []
    try:
        return _ENTRIES.validate_json(text)
    except ValidationError as exc:
        raise problem(exc, name) from None


def job_entries(name: str, text: str | None) -> list[UploadEntry]:
    """Entries of a job's items: upload entries that keep to a job item's fields."""
    entries = upload_entries(name, text)
    for position, entry in enumerate(entries):
        if unfit := sorted(entry.model_fields_set & _NOT_FOR_JOBS):
            raise InvalidMetadata(f"{name}[{position}].{unfit[0]}: not a field of a job item")
    return entries


def json_list(name: str, text: str | None) -> list[Any]:
    """A form field holding a JSON list; missing or blank is []."""
    if text is None or not text.strip():
        return []
    try:
        return _JSON_LIST.validate_json(text)
    except ValidationError as exc:
        raise problem(exc, name) from None


def with_default_filename(raw: Any, filename: str | None) -> Any:
    """A batch entry naming no file takes the uploaded file's name."""
    if isinstance(raw, Mapping) and not raw.get("filename"):
        return {**raw, "filename": filename}
    return raw
