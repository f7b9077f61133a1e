"""Plain image files, named by their file name and, optionally, labelled by their folder."""
from __future__ import annotations

from pathlib import Path

from nauplius.formats.filename_metadata import parse_filename
from nauplius.formats.items import IngestItem, Refused, too_large

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def image_item(path: Path, label: str | None, source: str | None = None,
               max_bytes: int | None = None) -> IngestItem | Refused:
    """The file as one item; refused unread when it is over max_bytes."""
    if (refused := too_large(source or str(path), path.stat().st_size, max_bytes)) is not None:
        return refused
    found = parse_filename(path.name)
    return IngestItem(
        data=path.read_bytes(),
        filename=path.name,
        source=source or str(path),
        label=label,
        instrument=found.instrument,
        sample=found.sample,
        captured_at=found.captured_at,
        metadata=found.metadata,
    )
