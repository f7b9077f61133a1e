"""Imaging FlowCytobot raw bins: `.hdr` + `.adc` + `.roi` with one stem.

New-format bins name their ADC columns in the header's `ADCFileFormat`; old IFCB1-6 bins have no
such line and keep ROI width, height and start byte in columns 12, 13 and 14 (1-based). The `.roi`
file is the concatenated 8-bit grey pixels; a row's StartByte (0-based, both formats) and
RoiWidth x RoiHeight locate its image, stored row by row with RoiWidth pixels per row. Rows with
zero width or height have no image.

A bin is read and checked whole before anything is yielded, so a broken bin is refused as a unit
(`IfcbBinError`), never half ingested.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from nauplius.formats.items import IngestItem

BIN_SUFFIXES = (".hdr", ".adc", ".roi")
# D20220522T000439_IFCB134 (new) and IFCB5_2012_028_081515 (old: year, day of year, time).
_NEW_NAME = re.compile(r"^D(\d{8}T\d{6})_(IFCB\d+)$")
_OLD_NAME = re.compile(r"^(IFCB\d+)_(\d{4})_(\d{3})_(\d{6})$")
# Old-format columns (0-based) of ROI width, height and start byte.
_OLD_COLUMNS = {"roiwidth": 11, "roiheight": 12, "startbyte": 13}


class IfcbBinError(ValueError):
    """The bin cannot be read; the message names the bin and the problem."""


@dataclass(frozen=True)
class IfcbRoi:
    number: int  # the trigger number, as in `<bin>_<number:05d>.png`
    image: np.ndarray  # uint8, shape (RoiHeight, RoiWidth)
    adc: dict[str, str]  # the ADC row, keyed by the header's column names (old format: col1...)


@dataclass(frozen=True)
class IfcbBin:
    bin_id: str
    instrument: str
    sample_time: datetime
    rois: list[IfcbRoi]


def bin_stem(path: Path) -> Path:
    """The bin a file belongs to: `.../D2022..._IFCB134` for any of its three files."""
    return path.with_suffix("") if path.suffix.lower() in BIN_SUFFIXES else path


def parse_bin_id(bin_id: str) -> tuple[str, datetime]:
    """(instrument, sample time in UTC) from the bin name."""
    try:
        if match := _NEW_NAME.match(bin_id):
            return match[2], datetime.strptime(match[1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        if match := _OLD_NAME.match(bin_id):
            day = datetime(int(match[2]), 1, 1, tzinfo=UTC) + timedelta(days=int(match[3]) - 1)
            clock = datetime.strptime(match[4], "%H%M%S")
            return match[1], day.replace(hour=clock.hour, minute=clock.minute, second=clock.second)
    except ValueError:
        raise IfcbBinError(f"{bin_id}: the bin name holds an impossible date") from None
    raise IfcbBinError(f"{bin_id}: not an IFCB bin name (D<yyyymmdd>T<hhmmss>_IFCB<n> or "
                       "IFCB<n>_<yyyy>_<ddd>_<hhmmss>)")


def _normalise(column: str) -> str:
    return re.sub(r"[^a-z0-9#]", "", column.lower())


def _read_header(path: Path) -> dict[str, str]:
    header: dict[str, str] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            header[key.strip()] = value.strip()
    return header


def _int(value: str, what: str, bin_id: str, row: int) -> int:
    try:
        number = float(value)
    except ValueError:
        raise IfcbBinError(f"{bin_id}: ADC row {row}: {what} is not a number: {value!r}") from None
    if number < 0 or number != int(number):
        raise IfcbBinError(f"{bin_id}: ADC row {row}: {what} is not a count: {value!r}")
    return int(number)


def read_bin(stem: Path) -> IfcbBin:
    """Read and check a whole bin; raises IfcbBinError naming the problem."""
    bin_id = stem.name
    instrument, sample_time = parse_bin_id(bin_id)
    paths = {suffix: stem.with_name(bin_id + suffix) for suffix in BIN_SUFFIXES}
    missing = [suffix for suffix, path in paths.items() if not path.is_file()]
    if missing:
        raise IfcbBinError(f"{bin_id}: incomplete bin, missing {', '.join(missing)}")
    if paths[".hdr"].stat().st_size == 0:
        raise IfcbBinError(f"{bin_id}: the .hdr file is empty")
    header = _read_header(paths[".hdr"])
    try:
        rows = list(csv.reader(paths[".adc"].read_text(encoding="latin-1").splitlines()))
    except csv.Error as exc:
        raise IfcbBinError(f"{bin_id}: the .adc file is not CSV: {exc}") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if "ADCFileFormat" in header:
        names = [name.strip() for name in header["ADCFileFormat"].split(",")]
        positions = {_normalise(name): i for i, name in enumerate(names)}
        missing_columns = [c for c in _OLD_COLUMNS if c not in positions]
        if missing_columns:
            raise IfcbBinError(f"{bin_id}: ADCFileFormat lacks {', '.join(missing_columns)}")
    else:
        names = [f"col{i + 1}" for i in range(max((len(r) for r in rows), default=0))]
        positions = dict(_OLD_COLUMNS)
    roi_bytes = np.fromfile(paths[".roi"], dtype=np.uint8)
    rois = []
    for row_number, row in enumerate(rows, start=1):
        if len(row) <= max(positions[c] for c in _OLD_COLUMNS):
            raise IfcbBinError(f"{bin_id}: ADC row {row_number} has only {len(row)} columns")
        width = _int(row[positions["roiwidth"]], "RoiWidth", bin_id, row_number)
        height = _int(row[positions["roiheight"]], "RoiHeight", bin_id, row_number)
        start = _int(row[positions["startbyte"]], "StartByte", bin_id, row_number)
        if width == 0 or height == 0:
            continue
        end = start + width * height
        if end > roi_bytes.size:
            raise IfcbBinError(f"{bin_id}: ADC row {row_number} needs .roi bytes {start}..{end}, "
                               f"the file has {roi_bytes.size}")
        number = _int(row[positions.get("trigger#", 0)], "trigger#", bin_id, row_number)
        image = roi_bytes[start:end].reshape(height, width).copy()
        adc = {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(names)}
        rois.append(IfcbRoi(number, image, adc))
    return IfcbBin(bin_id, instrument, sample_time, rois)


def stretch_contrast(image: np.ndarray) -> np.ndarray:
    """Min-max stretch to 0..255, rounding halves up: how ClassiPyR/iRfcb write their PNGs.

    Items keep the raw pixels (the instrument's measurement, as pyifcb and the IFCB dashboard
    serve them); this only lets tests compare against PNGs made by those tools.
    """
    low, high = int(image.min()), int(image.max())
    if high == low:
        return np.zeros_like(image)
    scaled = (image.astype(np.float64) - low) * 255.0 / (high - low)
    return np.floor(scaled + 0.5).astype(np.uint8)


def encode_png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - opencv encodes any uint8 2-D array
        raise IfcbBinError("could not encode a ROI as PNG")
    return encoded.tobytes()


def bin_items(ifcb_bin: IfcbBin) -> list[IngestItem]:
    """One item per ROI: a lossless PNG named `<bin>_<roi:05d>.png` with the bin's metadata."""
    return [
        IngestItem(
            data=encode_png(roi.image),
            filename=f"{ifcb_bin.bin_id}_{roi.number:05d}.png",
            source=f"{ifcb_bin.bin_id}#{roi.number}",
            instrument=ifcb_bin.instrument,
            sample=ifcb_bin.bin_id,
            captured_at=ifcb_bin.sample_time,
            metadata={"format": "ifcb", "bin": ifcb_bin.bin_id, "roi_number": roi.number,
                      "adc": roi.adc},
        )
        for roi in ifcb_bin.rois
    ]
