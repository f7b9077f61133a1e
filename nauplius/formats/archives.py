"""Zip and tar archives: unpacked (with limits, no path escapes) into a temporary folder that is
read like any other folder, so an archive may hold images, IFCB bins or an EcoTaxa export."""
from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
MAX_UNPACKED_BYTES = 4 * 1024**3
MAX_MEMBERS = 1_000_000


class ArchiveError(ValueError):
    pass


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES) and not path.name.startswith(".")


def archive_stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or "archive"
    return name


def _safe_relative(name: str) -> PurePosixPath | None:
    """The member's path inside the archive, or None for one that would escape the folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return path


def unpack(archive: Path, into: Path, max_bytes: int = MAX_UNPACKED_BYTES) -> None:
    """Unpack regular files only; raises ArchiveError for a broken or oversized archive."""
    total = 0

    def budget(size: int) -> None:
        nonlocal total
        total += size
        if total > max_bytes:
            raise ArchiveError(f"unpacks to more than {max_bytes} bytes")

    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                members = [m for m in zipped.infolist() if not m.is_dir()]
                if len(members) > MAX_MEMBERS:
                    raise ArchiveError(f"more than {MAX_MEMBERS} members")
                for member in members:
                    if (relative := _safe_relative(member.filename)) is None:
                        continue
                    budget(member.file_size)
                    target = into.joinpath(*relative.parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zipped.open(member) as source, open(target, "wb") as sink:
                        shutil.copyfileobj(source, sink)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tarred:
                for count, entry in enumerate(tarred, start=1):
                    if count > MAX_MEMBERS:
                        raise ArchiveError(f"more than {MAX_MEMBERS} entrys")
                    if not entry.isreg() or (relative := _safe_relative(entry.name)) is None:
                        continue
                    budget(entry.size)
                    target = into.joinpath(*relative.parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    extracted = tarred.extractfile(entry)
                    assert extracted is not None  # a regular file has its bytes
                    with extracted, open(target, "wb") as sink:
                        shutil.copyfileobj(extracted, sink)
        else:
            raise ArchiveError("not a zip or tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"broken archive: {exc}") from None
