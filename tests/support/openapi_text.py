"""Walks an OpenAPI document for text a request may send that no rule keeps clean.

Every string of a parameter or a request body must say in its schema how it refuses control
characters and lone surrogates (the `pattern` of nauplius.core.contracts.text's Line and Text, or
any pattern as strict), or be no free text at all (an enum, a file's bytes, a date-time); every
free-form object must give its keys such a pattern (`propertyNames`: its values are checked by
the JsonObject validator, which a schema cannot show).
"""

import re
from typing import Any

Schema = dict[str, Any]
# What a rule must refuse: a NUL, another control character, a lone surrogate.
UNCLEAN = ("a\x00b", "a\x1bb", "a\ud800b")
NOT_FREE_TEXT = ("binary", "date-time")


def _refuses_unclean(schema: Schema | None) -> bool:
    if schema is None:
        return False
    if "enum" in schema or "const" in schema or "contentMediaType" in schema:
        return True
    if schema.get("format") in NOT_FREE_TEXT:
        return True
    pattern = schema.get("pattern")
    return pattern is not None and all(re.search(pattern, text) is None for text in UNCLEAN)


def _walk(schema: Schema, where: str, components: dict[str, Schema], seen: frozenset[str]
          ) -> list[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return [] if name in seen else _walk(components[name], where, components, seen | {name})
    found = [problem for key in ("anyOf", "oneOf", "allOf") for part in schema.get(key, [])
             for problem in _walk(part, where, components, seen)]
    kind = schema.get("type")
    if kind == "string" and not _refuses_unclean(schema):
        found.append(where)
    if kind == "array" and "items" in schema:
        found += _walk(schema["items"], f"{where}[]", components, seen)
    for name, field in schema.get("properties", {}).items():
        found += _walk(field, f"{where}.{name}", components, seen)
    extra = schema.get("additionalProperties")
    if kind == "object" and extra not in (None, False):
        if not _refuses_unclean(schema.get("propertyNames")):
            found.append(f"{where} (keys)")
        if isinstance(extra, dict):
            found += _walk(extra, f"{where}.*", components, seen)
    return found


def unchecked_text(spec: Schema) -> list[str]:
    """Each request string without a rule, as 'METHOD /path in.name': `in` is the parameter's
    place (query, path, header), or `json` or `form` for a field of a request body."""
    components: dict[str, Schema] = spec.get("components", {}).get("schemas", {})
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                found += _walk(parameter.get("schema", {}),
                               f"{where} {parameter['in']}.{parameter['name']}", components,
                               frozenset())
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                place = {"application/json": "json", "multipart/form-data": "form",
                         "application/x-www-form-urlencoded": "form"}.get(media, media)
                found += _walk(content.get("schema", {}), f"{where} {place}", components,
                               frozenset())
    return found
