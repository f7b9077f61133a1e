"""EcoTaxa exports: `ecotaxa_*.tsv` (first row column names, second row types `[t]`/`[f]`) with
the images it names beside it (`img_file_name`, relative to the TSV's folder).

Each row is judged on its own: a row whose image is missing, whose cell is too long to read,
whose `[f]` cell is NaN or infinite (JSON has no such number) or whose bytes are not UTF-8 is one
refused row, and the other rows go in. Only a file without a readable header is refused whole."""
from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from nauplius.formats.items import IngestItem, Refused, too_large

# A cell over the csv module's field size limit (131,072 characters; left as it is, being
# process-wide) refuses its row; so do bytes that are not UTF-8, read as lone surrogates.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")

# EcoTaxa's annotation status -> the catalog's label state.
_STATES = {"validated": "validated", "predicted": "predicted", "dubious": "dubious", "V": "validated",
           "P": "predicted", "D": "dubious"}


class EcotaxaError(ValueError):
    pass


def is_ecotaxa_tsv(path: Path) -> bool:
    return path.name.lower().startswith("ecotaxa_") and path.suffix.lower() == ".tsv"


def _value(key: str, text: str, kind: str) -> Any:
    """The cell as JSON takes it: `[f]` cells as numbers (text that is not one stays text)."""
    if kind == "[f]" and text.strip():
        try:
            number = float(text)
        except ValueError:
            return text
        if not math.isfinite(number):
            raise EcotaxaError(f"{key[:100]}: {text[:100]!r} is not a finite number")
        return number
    return text


def _captured_at(row: dict[str, str]) -> datetime | None:
    date = row.get("object_date", "").strip()
    if not date:
        return None
    clock = row.get("object_time", "").strip().zfill(6) or "000000"
    try:
        return datetime.strptime(date + clock, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class BadRow:
    """A row that cannot be read (a cell over FIELD_LIMIT, bytes that are not UTF-8)."""

    number: int
    reason: str


def _lines(handle: IO[str]) -> Iterator[list[str] | str]:
    """The TSV's rows, or for a row the csv module cannot read, why (and the reading goes on)."""
    reader = csv.reader(handle, delimiter="\t")
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield f"line {reader.line_num}: {exc}"
            continue
        if any(_NOT_UTF8.search(cell) for cell in cells):
            yield f"line {reader.line_num}: not UTF-8 text"
        else:
            yield cells


def read_rows(tsv: Path) -> tuple[list[str], list[dict[str, str] | BadRow]]:
    """(types per column, rows, numbered from 1 after the type row); raises EcotaxaError for a
    file that is not an EcoTaxa TSV."""
    # Undecodable bytes become lone surrogates (never sent on), so one bad row is one refused row.
    with open(tsv, newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        lines = list(_lines(handle))
    if not lines:
        raise EcotaxaError("empty file")
    if isinstance(lines[0], str):
        raise EcotaxaError(f"unreadable header row: {lines[0]}")
    names = [name.strip() for name in lines[0]]
    if "img_file_name" not in names:
        raise EcotaxaError("no img_file_name column")
    body = lines[1:]
    types = [""] * len(names)
    if body and isinstance(body[0], list) and all(
            cell.strip() in ("[t]", "[f]", "") for cell in body[0]):
        types = [cell.strip() for cell in body[0]] + [""] * (len(names) - len(body[0]))
        body = body[1:]
    kept = [row for row in body if isinstance(row, str) or any(cell.strip() for cell in row)]
    return types, [BadRow(number, row) if isinstance(row, str) else dict(zip(names, row, strict=False))
                   for number, row in enumerate(kept, start=1)]


def read_export(tsv: Path, max_image_bytes: int | None = None) -> Iterator[IngestItem | Refused]:
    """One item per row whose image is readable; any other row is refused with the reason."""
    try:
        types, rows = read_rows(tsv)
    except (OSError, EcotaxaError) as exc:
        yield Refused(str(tsv), f"not an EcoTaxa export: {exc}")
        return
    for number, row in enumerate(rows, start=1):
        if isinstance(row, BadRow):
            yield Refused(f"{tsv}:{row.number}", row.reason)
            continue
        source = f"{tsv}:{row.get('object_id', '')[:200] or number}"
        try:
            yield _row_item(tsv, row, types, source, max_image_bytes)
        except EcotaxaError as exc:
            yield Refused(source, str(exc))


def _row_item(tsv: Path, row: dict[str, str], types: list[str], source: str,
              max_image_bytes: int | None) -> IngestItem | Refused:
    kinds = dict(zip(row.keys(), types, strict=False))
    metadata = {key: _value(key, value, kinds.get(key, "")) for key, value in row.items()
                if value.strip()}
    name = row.get("img_file_name", "").strip()
    image = Path(os.path.normpath(tsv.parent.absolute() / name))
    if not name or tsv.parent.absolute() not in image.parents:
        return Refused(source, f"bad img_file_name {name[:200]!r}")
    try:
        if (refused := too_large(source, image.stat().st_size, max_image_bytes)) is not None:
            return refused
        data = image.read_bytes()
    except OSError as exc:
        return Refused(source, f"image {name[:200]} unreadable: {exc.strerror or exc}")
    category = row.get("object_annotation_category", "").strip() or None
    status = row.get("object_annotation_status", "").strip()
    return IngestItem(
        data=data,
        filename=Path(name).name,
        source=source,
        label=category,
        label_state=_STATES.get(status, "predicted") if category else None,
        instrument=row.get("acq_instrument", "").strip() or None,
        sample=row.get("sample_id", "").strip() or None,
        captured_at=_captured_at(row),
        metadata={"format": "ecotaxa", **metadata},
    )
