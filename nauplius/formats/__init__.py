"""Pure readers of what instruments and partners send: each yields `IngestItem`s (or `Refused`)."""

from nauplius.formats.items import IngestItem, Refused

__all__ = ["IngestItem", "Refused"]
