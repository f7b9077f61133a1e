"""Opaque cursors of keyset pages: the key of the last row of a page, for the page after it.

A cursor is URL-safe base64 of JSON `{"order": ..., "key": [...]}`, the row's values of
`queries.LIST_KEYS[order]`. It is checked before use: a cursor this service did not give (or gave
for another order) is the caller's 422 naming it, never a 500 or a wrong page.
"""

import base64
import binascii
import json

from services.catalog.errors import InvalidMetadata
from services.catalog.queries import LIST_KEYS

# Which JSON values each key column may hold (None where the column can be NULL).
_KINDS: dict[str, tuple[type, ...]] = {
    "id": (int,), "label": (str, type(None)), "label_confidence": (float, int, type(None)),
}


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def encode(order: str, row: dict[str, object]) -> str:
    key = [row[column] for column, _, _ in LIST_KEYS[order]]
    text = json.dumps({"order": order, "key": key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str, order: str) -> list[object]:
    """The key a cursor holds; InvalidMetadata (422) naming `cursor` when it is not one of ours."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError) as bad:  # RecursionError: [[[[...
        raise InvalidMetadata(f"cursor is not one this listing gave ({bad})") from None
    if not isinstance(data, dict) or set(data) != {"order", "key"}:
        raise InvalidMetadata("cursor is not one this listing gave (not a page key)")
    if data["order"] != order:
        raise InvalidMetadata(f"cursor was given for order={data['order']!r}, not order={order!r}")
    columns = [column for column, _, _ in LIST_KEYS[order]]
    key = data["key"]
    if (not isinstance(key, list) or len(key) != len(columns)
            or any(isinstance(v, bool) or not isinstance(v, _KINDS[c])
                   for c, v in zip(columns, key, strict=True))):
        raise InvalidMetadata(f"cursor is not one this listing gave (a key of {columns} expected)")
    if any(isinstance(v, str) and not _utf8(v) for v in key):
        raise InvalidMetadata("cursor is not one this listing gave (not UTF-8 text)")
    if not -2**63 <= key[-1] < 2**63:
        raise InvalidMetadata("cursor is not one this listing gave (id out of range)")
    return [float(v) if c == "label_confidence" and v is not None else v
            for c, v in zip(columns, key, strict=True)]
