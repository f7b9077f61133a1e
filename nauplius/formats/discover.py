"""Recognise what a list of paths holds and read it all: IFCB bins, EcoTaxa exports, zip/tar
archives and plain images, side by side in one folder or given one by one."""
from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from nauplius.formats.archives import archive_stem, is_archive, unpack
from nauplius.formats.budget import ArchiveError, UploadBudget, UploadLimits
from nauplius.formats.ecotaxa import EcotaxaError, is_ecotaxa_tsv, read_export, read_rows
from nauplius.formats.ifcb import BIN_SUFFIXES, IfcbBinError, bin_items, bin_stem, parse_bin_id, read_bin
from nauplius.formats.images import image_item, is_image_file
from nauplius.formats.items import IngestItem, Refused, too_large

Found = IngestItem | Refused


def read_paths(paths: list[Path], label_from_folder: bool = False,
               limits: UploadLimits | None = None) -> Iterator[Found]:
    """Everything in the given files and folders; raises FileNotFoundError before reading any.
    Each archive among them is one upload with its own budget (`limits`)."""
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
    for path in paths:
        yield from _read(path, label_from_folder, path.is_file(), limits or UploadLimits(), None)


def is_ifcb_file(path: Path) -> bool:
    if path.suffix.lower() not in BIN_SUFFIXES:
        return False
    try:
        parse_bin_id(bin_stem(path).name)
    except IfcbBinError:
        return False
    return True


def ecotaxa_images(tsv: Path) -> set[Path]:
    try:
        _, rows = read_rows(tsv)
    except (OSError, EcotaxaError):
        return set()
    return {absolute_path(tsv.parent / row.get("img_file_name", "")) for row in rows
            if isinstance(row, dict)}


def absolute_path(path: Path) -> Path:
    """Absolute without following links: two links to one file are two images of the drop."""
    return Path(os.path.normpath(path.absolute()))


def _read(root: Path, label_from_folder: bool, explicit: bool, limits: UploadLimits,
          budget: UploadBudget | None) -> Iterator[Found]:
    """`budget`: the enclosing upload's while reading inside an archive."""
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    tsvs = [f for f in files if is_ecotaxa_tsv(f)]
    described = set().union(*(ecotaxa_images(tsv) for tsv in tsvs))
    for tsv in tsvs:
        yield from read_export(tsv, limits.max_item_bytes)
    for stem in sorted({bin_stem(f) for f in files if is_ifcb_file(f)}):
        try:
            ifcb_bin = read_bin(stem)
        except (IfcbBinError, OSError) as exc:
            yield Refused(str(stem), str(exc))
            continue
        for item in bin_items(ifcb_bin):
            yield too_large(item.source, len(item.data), limits.max_item_bytes) or item
        yield from ifcb_bin.refused
    for path in files:
        if is_archive(path):
            yield from read_archive(path, label_from_folder, limits, budget)
        elif is_image_file(path) and absolute_path(path) not in described:
            yield image_item(path, path.parent.name if label_from_folder else None,
                             max_bytes=limits.max_item_bytes)
        elif explicit and not (is_ecotaxa_tsv(path) or is_ifcb_file(path)):
            yield Refused(str(path), "not an image, IFCB bin file, EcoTaxa TSV or zip/tar archive")


def read_archive(archive: Path, label_from_folder: bool = False,
                 limits: UploadLimits | None = None,
                 budget: UploadBudget | None = None) -> Iterator[Found]:
    """The archive read as a folder named by its stem; sources read `archive!member`. An archive
    inside it spends from the same `budget` (a new one, of `limits`, for an upload)."""
    budget = budget or UploadBudget(limits)
    with tempfile.TemporaryDirectory(prefix="nauplius-archive-") as folder, budget.level():
        root = Path(folder) / archive_stem(archive)
        root.mkdir()
        try:
            budget.check_depth()
            refused = unpack(archive, root, budget)
        except ArchiveError as exc:
            yield Refused(str(archive), str(exc))
            return
        for member in refused:
            yield Refused(f"{archive}!{member.source}", member.reason)
        for found in _read(root, label_from_folder, False, budget.limits, budget):
            inner = found.source.replace(str(root), "", 1).lstrip("/")
            yield dataclasses.replace(found, source=f"{archive}!{inner}")
