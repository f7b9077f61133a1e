"""Imaging FlowCytobot raw bins: `.hdr` + `.adc` + `.roi` with one stem.

New-format bins name their ADC columns in the header's `ADCFileFormat`; old IFCB1-6 bins have no
such line and keep ROI width, height and start byte in columns 12, 13 and 14 (1-based). The `.roi`
file is the concatenated 8-bit grey pixels; a row's StartByte (0-based, both formats) and
RoiWidth x RoiHeight locate its image, stored row by row with RoiWidth pixels per row. Rows with
zero width or height have no image.

A bin whose files or header cannot be read is refused as a unit (`IfcbBinError`). Within a
readable bin each ADC row is judged on its own: a row with a size or offset that is not a finite
count, that reaches past the end of the `.roi` file, or whose bytes overlap an earlier ROI's is one
refused ROI (`IfcbBin.refused`) and the other ROIs go in. No ROI byte is copied twice, so a bin
never costs more memory than its `.roi` file.
"""
from __future__ import annotations

import bisect
import csv
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from nauplius.formats.items import IngestItem, Refused

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
    refused: list[Refused] = field(default_factory=list)  # ADC rows whose ROI cannot be read


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


class _BadRow(ValueError):
    """One ADC row whose ROI cannot be read; the message names the row and the problem."""


def _count(value: str, what: str, row: int) -> int:
    """A non-negative whole number (IFCB software writes some as `160.0`)."""
    try:
        number = float(value)
    except ValueError:
        raise _BadRow(f"ADC row {row}: {what} is not a number: {value[:100]!r}") from None
    if not math.isfinite(number) or number < 0 or number != int(number):
        raise _BadRow(f"ADC row {row}: {what} is not a count: {value[:100]!r}")
    return int(number)


@dataclass(frozen=True)
class _Row:
    number: int  # the trigger number
    start: int
    width: int
    height: int
    adc: dict[str, str]

    @property
    def end(self) -> int:
        return self.start + self.width * self.height


def _parse_row(row: list[str], row_number: int, names: list[str],
               positions: dict[str, int]) -> _Row:
    if len(row) <= max(positions[c] for c in _OLD_COLUMNS):
        raise _BadRow(f"ADC row {row_number} has only {len(row)} columns")
    return _Row(
        number=_count(row[positions.get("trigger#", 0)], "trigger#", row_number),
        start=_count(row[positions["startbyte"]], "StartByte", row_number),
        width=_count(row[positions["roiwidth"]], "RoiWidth", row_number),
        height=_count(row[positions["roiheight"]], "RoiHeight", row_number),
        adc={name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(names)},
    )


def _trigger_text(row: list[str], positions: dict[str, int], row_number: int) -> str:
    """How a refused row is named: its trigger number as written, else its row number."""
    position = positions.get("trigger#", 0)
    text = row[position].strip()[:20] if position < len(row) else ""
    return text or f"row {row_number}"


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
    rois: list[IfcbRoi] = []
    refused: list[Refused] = []
    starts: list[int] = []  # the byte ranges of the ROIs taken, in .roi order (never overlapping)
    ends: list[int] = []
    for row_number, row in enumerate(rows, start=1):
        try:
            roi = _parse_row(row, row_number, names, positions)
            if roi.width == 0 or roi.height == 0:
                continue
            if roi.end > roi_bytes.size:
                raise _BadRow(f"ADC row {row_number} needs .roi bytes {roi.start}..{roi.end}, "
                              f"the file has {roi_bytes.size}")
            place = bisect.bisect_right(starts, roi.start)
            if (place > 0 and ends[place - 1] > roi.start) or (
                    place < len(starts) and starts[place] < roi.end):
                raise _BadRow(f"ADC row {row_number}: .roi bytes {roi.start}..{roi.end} overlap "
                              "those of an earlier ROI")
        except _BadRow as exc:
            refused.append(Refused(f"{bin_id}#{_trigger_text(row, positions, row_number)}",
                                   str(exc)))
            continue
        starts.insert(place, roi.start)
        ends.insert(place, roi.end)
        image = roi_bytes[roi.start:roi.end].reshape(roi.height, roi.width).copy()
        rois.append(IfcbRoi(roi.number, image, roi.adc))
    return IfcbBin(bin_id, instrument, sample_time, rois, refused)


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
