"""Zip and tar archives: unpacked into a temporary folder that is read like any other folder, so
an archive may hold images, IFCB bins or an EcoTaxa export.

Only regular files are written. Links, devices, FIFOs, absolute paths and paths that leave the
folder (`..`) are refused members, never followed or written; so is a member over the per-member
limit or a second member of the same name. Every byte is spent from the upload's budget
(`nauplius.formats.budget`) as it is decompressed, so a bomb stops at the budget instead of
inflating past it, whatever sizes its headers claim."""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO, Any

from nauplius.formats.budget import ArchiveError, UploadBudget
from nauplius.formats.items import Refused

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
COPY_CHUNK = 1024 * 1024

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_TAR_MAGIC_AT = 257  # "ustar" in a POSIX tar header (a pre-POSIX tar is not taken)
_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz"}
# What a broken member or stream raises while it is decompressed.
_DECODE_ERRORS = (zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError, EOFError,
                  OSError)

SYMLINK = "a symbolic link: links are never followed"
HARDLINK = "a hard link: links are never followed"
SPECIAL = "a device, FIFO or socket: only regular files are unpacked"
NOT_REGULAR = "not a regular file"
ESCAPES = "an absolute path or one that leaves the archive (..)"
DUPLICATE = "a second member of the same name"


class _MemberTooLarge(Exception):
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


def unpack(archive: Path, into: Path, budget: UploadBudget) -> list[Refused]:
    """Unpack the regular files; answers the refused members (source: the member's name).
    Raises ArchiveError for a broken archive or one that goes past the upload's budget."""
    try:
        with archive.open("rb") as raw:
            head = raw.read(_TAR_MAGIC_AT + 5)
            if head.startswith(_ZIP_MAGIC):
                return _unpack_zip(archive, into, budget)
            compression = next((name for magic, name in _COMPRESSED.items()
                                if head.startswith(magic)), None)
            if compression is None and head[_TAR_MAGIC_AT:] != b"ustar":
                raise ArchiveError("not a zip or tar archive")
            raw.seek(0)
            with _decompressed(raw, compression) as stream:
                return _unpack_tar(stream, into, budget)
    except _DECODE_ERRORS as exc:
        raise ArchiveError(f"broken archive: {exc}") from None


def _decompressed(raw: io.BufferedReader, compression: str | None) -> io.BufferedIOBase:
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw)
    if compression == "bz2":
        return bz2.BZ2File(raw)
    if compression == "xz":
        return lzma.LZMAFile(raw)
    return raw


def _copy(source: IO[bytes], sink: IO[bytes], limit: int, spend: Callable[[int], None]) -> None:
    written = 0
    while chunk := source.read(COPY_CHUNK):
        written += len(chunk)
        if written > limit:
            raise _MemberTooLarge
        spend(len(chunk))
        sink.write(chunk)


def _write(source: IO[bytes], root: Path, relative: PurePosixPath, limit: int,
           spend: Callable[[int], None]) -> str | None:
    """Copy one member within its limit; answers why it was refused, or None once written."""
    target = root.joinpath(*relative.parts)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot be written: {exc.strerror or exc}"
    try:
        with open(target, "xb") as sink:  # never over an earlier member
            _copy(source, sink, limit, spend)
    except FileExistsError:
        return DUPLICATE
    except _MemberTooLarge:
        target.unlink()
        return f"over the limit of {limit} bytes for one member"
    except (*_DECODE_ERRORS, RuntimeError, NotImplementedError) as exc:
        target.unlink(missing_ok=True)
        return f"unreadable member: {exc}"
    return None


def _zip_refusal(member: zipfile.ZipInfo, limit: int) -> str | None:
    kind = stat.S_IFMT(member.external_attr >> 16)  # unix mode bits, when the zip has them
    if kind == stat.S_IFLNK:
        return SYMLINK
    if kind not in (0, stat.S_IFREG):
        return SPECIAL
    if member.file_size > limit:
        return f"over the limit of {limit} bytes for one member"
    return None


def _unpack_zip(archive: Path, into: Path, budget: UploadBudget) -> list[Refused]:
    limit = budget.limits.max_member_bytes
    refused = []
    with zipfile.ZipFile(archive) as zipped:
        members = zipped.infolist()
        budget.count_members(len(members))
        for member in members:
            if member.is_dir():
                continue
            reason = _zip_refusal(member, limit)
            relative = _safe_relative(member.filename)
            if reason is None and relative is None:
                reason = ESCAPES
            if reason is None and relative is not None:
                try:
                    with zipped.open(member) as source:
                        reason = _write(source, into, relative, limit, budget.spend)
                except (*_DECODE_ERRORS, RuntimeError, NotImplementedError) as exc:
                    reason = f"unreadable member: {exc}"  # encrypted, unknown method, bad header
            if reason is not None:
                refused.append(Refused(member.filename, reason))
    return refused


class _Metered(io.RawIOBase):
    """A decompressed stream that spends every byte it hands on from the upload's budget."""

    def __init__(self, stream: io.BufferedIOBase, budget: UploadBudget) -> None:
        self._stream = stream
        self._budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with memoryview(buffer) as view:
            data = self._stream.read(len(view))
            self._budget.spend(len(data))
            view[:len(data)] = data
        return len(data)


def _tar_refusal(entry: tarfile.TarInfo, limit: int) -> str | None:
    if entry.issym():
        return SYMLINK
    if entry.islnk():
        return HARDLINK
    if entry.ischr() or entry.isblk() or entry.isfifo():
        return SPECIAL
    if not entry.isreg():
        return NOT_REGULAR
    if entry.size > limit:
        return f"over the limit of {limit} bytes for one member"
    return None


def _unpack_tar(stream: io.BufferedIOBase, into: Path, budget: UploadBudget) -> list[Refused]:
    # Decompressed here and read by tarfile as a plain stream, so every byte, headers included
    # (tarfile reads a pax header whole into memory), passes the meter before tarfile holds it.
    limit = budget.limits.max_member_bytes
    refused = []
    with tarfile.open(fileobj=_Metered(stream, budget), mode="r|") as tarred:
        for entry in tarred:
            budget.count_members(1)
            if entry.isdir():
                continue
            reason = _tar_refusal(entry, limit)
            relative = _safe_relative(entry.name)
            if reason is None and relative is None:
                reason = ESCAPES
            if reason is None and relative is not None:
                extracted = tarred.extractfile(entry)
                assert extracted is not None  # a regular file has its bytes
                with extracted:
                    reason = _write(extracted, into, relative, limit, _spent_by_the_meter)
            if reason is not None:
                refused.append(Refused(entry.name, reason))
    return refused


def _spent_by_the_meter(size: int) -> None:
    """A tar member's bytes were spent as the stream was decompressed."""
