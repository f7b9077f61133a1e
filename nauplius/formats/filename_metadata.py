"""Metadata that instruments encode in file names, one parser per instrument, tried in order.

Register a parser with `register(parser)`; `parse_filename(name)` answers the first match.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nauplius.formats.ifcb import IfcbBinError, parse_bin_id


@dataclass(frozen=True)
class FilenameMetadata:
    instrument: str | None = None
    sample: str | None = None
    captured_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


FilenameParser = Callable[[str], FilenameMetadata | None]
_PARSERS: list[FilenameParser] = []


def register(parser: FilenameParser) -> FilenameParser:
    _PARSERS.append(parser)
    return parser


def parse_filename(name: str) -> FilenameMetadata:
    """What the first matching parser reads from the name; empty when none matches."""
    for parser in _PARSERS:
        if (found := parser(name)) is not None:
            return found
    return FilenameMetadata()


# SPC-EAWAG-0P5X-<capture time µs>-<camera clock>-<frame>-<roi>-<x>-<y>-<w>-<h>.jpeg
_SPC = re.compile(r"^(SPC[A-Z0-9-]*?)-(\d{13,17})-(\d+)-(\d+)-(\d+)-(\d+)-(\d+)-(\d+)-(\d+)\.\w+$")


@register
def scripps_plankton_camera(name: str) -> FilenameMetadata | None:
    match = _SPC.match(name)
    if match is None:
        return None
    camera, micros, clock, frame, roi, x, y, width, height = match.groups()
    seconds, rest = divmod(int(micros), 1_000_000)
    captured = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest)
    return FilenameMetadata(
        instrument=camera,
        captured_at=captured,
        metadata={"format": "spc", "camera_clock": int(clock), "frame": int(frame),
                  "roi_number": int(roi), "roi_x": int(x), "roi_y": int(y),
                  "roi_width": int(width), "roi_height": int(height)},
    )


_IFCB_ROI = re.compile(r"^(.+)_(\d{5})\.\w+$")


@register
def ifcb_roi_image(name: str) -> FilenameMetadata | None:
    """ROI images exported from IFCB bins: `<bin id>_<roi number:05d>.png`."""
    match = _IFCB_ROI.match(name)
    if match is None:
        return None
    try:
        instrument, sample_time = parse_bin_id(match[1])
    except IfcbBinError:
        return None
    return FilenameMetadata(instrument=instrument, sample=match[1], captured_at=sample_time,
                            metadata={"format": "ifcb", "bin": match[1],
                                      "roi_number": int(match[2])})
