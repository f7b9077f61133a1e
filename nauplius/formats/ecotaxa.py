"""EcoTaxa exports: `ecotaxa_*.tsv` (first row column names, second row types `[t]`/`[f]`) with
the images it names beside it (`img_file_name`, relative to the TSV's folder)."""
from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nauplius.formats.items import IngestItem, Refused

# EcoTaxa's annotation status -> the catalog's label state.
_STATES = {"validated": "validated", "predicted": "predicted", "dubious": "dubious", "V": "validated",
           "P": "predicted", "D": "dubious"}


class EcotaxaError(ValueError):
    pass


def is_ecotaxa_tsv(path: Path) -> bool:
    return path.name.lower().startswith("ecotaxa_") and path.suffix.lower() == ".tsv"


def _value(text: str, kind: str) -> Any:
    if kind == "[f]" and text.strip():
        try:
            return float(text)
        except ValueError:
            return text
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


def read_rows(tsv: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(types per column, rows); raises EcotaxaError for a file that is not an EcoTaxa TSV."""
    with open(tsv, newline="", encoding="utf-8-sig") as handle:
        lines = list(csv.reader(handle, delimiter="\t"))
    if not lines:
        raise EcotaxaError("empty file")
    names = [name.strip() for name in lines[0]]
    if "img_file_name" not in names:
        raise EcotaxaError("no img_file_name column")
    body = lines[1:]
    types = [""] * len(names)
    if body and all(cell.strip() in ("[t]", "[f]", "") for cell in body[0]):
        types = [cell.strip() for cell in body[0]] + [""] * (len(names) - len(body[0]))
        body = body[1:]
    return types, [dict(zip(names, row, strict=False)) for row in body if any(cell.strip() for cell in row)]


def read_export(tsv: Path) -> Iterator[IngestItem | Refused]:
    """One item per row whose image is readable; rows without their image are refused by name."""
    try:
        types, rows = read_rows(tsv)
    except (OSError, UnicodeDecodeError, csv.Error, EcotaxaError) as exc:
        yield Refused(str(tsv), f"not an EcoTaxa export: {exc}")
        return
    kinds = dict(zip(rows[0].keys(), types, strict=False)) if rows else {}
    for number, row in enumerate(rows, start=1):
        name = row.get("img_file_name", "").strip()
        source = f"{tsv}:{row.get('object_id') or number}"
        image = Path(os.path.normpath(tsv.parent.absolute() / name))
        if not name or tsv.parent.absolute() not in image.parents:
            yield Refused(source, f"bad img_file_name {name!r}")
            continue
        try:
            data = image.read_bytes()
        except OSError as exc:
            yield Refused(source, f"image {name} unreadable: {exc.strerror or exc}")
            continue
        category = row.get("object_annotation_category", "").strip() or None
        status = row.get("object_annotation_status", "").strip()
        yield IngestItem(
            data=data,
            filename=Path(name).name,
            source=source,
            label=category,
            label_state=_STATES.get(status, "predicted") if category else None,
            instrument=row.get("acq_instrument", "").strip() or None,
            sample=row.get("sample_id", "").strip() or None,
            captured_at=_captured_at(row),
            metadata={"format": "ecotaxa",
                      **{key: _value(value, kinds.get(key, "")) for key, value in row.items()
                         if value.strip()}},
        )
