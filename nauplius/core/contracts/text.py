"""Text every service takes in: nothing PostgreSQL cannot store, nothing a terminal would run.

`Line` is one line (a name, a taxon, an instrument, a filename, a query filter): no control
character at all (C0, DEL). `Text` is free text (a description, a note, a metadata value): tab,
newline and carriage return are its own, every other control character is refused. Neither holds a
lone surrogate (it has no UTF-8 form). `JsonObject` is a free-form JSON object whose keys are Lines
and whose strings are Texts at every depth; a problem names its path, as in `ifcb.comment`.
`Reason` is a failure reason, our own report: what it cannot hold is replaced, never refused.

Requests use these; answers keep plain `str`, so nothing stored before these rules stops being
readable. Each type carries its rule into the JSON schema (`pattern`, `propertyNames`), which
tests walk to find a text field that forgot it.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# The same character sets as Python patterns (to check) and JSON schema patterns (to document).
_LINE_REFUSED = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_TEXT_REFUSED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
LINE_PATTERN = r"^[^\u0000-\u001f\u007f\ud800-\udfff]*$"
TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ud800-\udfff]*$"


def _describe(char: str) -> str:
    code = ord(char)
    name = f"U+{code:04X}"
    if code == 0:
        return f"contains a NUL character ({name})"
    if 0xD800 <= code <= 0xDFFF:
        return f"contains a lone surrogate ({name}), which has no UTF-8 form"
    if char in "\t\n\r":
        return f"contains a tab or line break ({name}): it is one line"
    return f"contains a control character ({name})"


def line_problem(value: str) -> str | None:
    """Why `value` is no Line (None: it is one)."""
    found = _LINE_REFUSED.search(value)
    return None if found is None else _describe(found.group())


def text_problem(value: str) -> str | None:
    """Why `value` is no Text (None: it is one)."""
    found = _TEXT_REFUSED.search(value)
    return None if found is None else _describe(found.group())


def check_line(value: str) -> str:
    if problem := line_problem(value):
        raise ValueError(problem)
    return value


def check_text(value: str) -> str:
    if problem := text_problem(value):
        raise ValueError(problem)
    return value


def _json_problem(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        problem = text_problem(value)
        return None if problem is None else f"{path or 'the value'}: {problem}"
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (problem := line_problem(key)):
                return f"a key at {path or 'the top'} ({ascii(key)}) {problem}"
            if problem := _json_problem(item, here):
                return problem
    if isinstance(value, list):
        for position, item in enumerate(value):
            if problem := _json_problem(item, f"{path}[{position}]"):
                return problem
    return None


def check_json(value: dict[str, Any]) -> dict[str, Any]:
    """Every key a Line and every string a Text, at any depth."""
    if problem := _json_problem(value, ""):
        raise ValueError(problem)
    return value


def scrub(value: str) -> str:
    """`value` with every character a Text refuses replaced by U+FFFD."""
    return _TEXT_REFUSED.sub("\ufffd", value)


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: typing hashes metadata
class _Documented:
    """Writes a text rule into the JSON schema (and so into OpenAPI)."""

    extra: dict[str, Any]

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.extra)
        return schema


def _scrub_any(value: Any) -> Any:
    return scrub(value) if isinstance(value, str) else value


Line = Annotated[str, AfterValidator(check_line), _Documented({"pattern": LINE_PATTERN})]
Text = Annotated[str, AfterValidator(check_text), _Documented({"pattern": TEXT_PATTERN})]
Reason = Annotated[str, BeforeValidator(_scrub_any), _Documented({"pattern": TEXT_PATTERN})]
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json),
                       _Documented({"propertyNames": {"pattern": LINE_PATTERN}})]
