"""What one upload may cost to read: one budget, spent by every level of the archives nested in it,
so an archive inside an archive never starts afresh. A member or item over its own limit is one
refused item; an upload past its budget stops there, with the reason."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# Defaults. The largest single member is an IFCB `.roi` file of a long bin (tens of MB); the
# total bounds the temporary disk an upload may fill (the catalog keeps archives up to 2 GiB).
MAX_DEPTH = 4  # the upload itself and three archives nested in it
MAX_MEMBERS = 200_000  # entries of all levels together (a year of IFCB bins is ~80,000 files)
MAX_UNPACKED_BYTES = 4 * 1024**3  # bytes decompressed, all levels together
MAX_MEMBER_BYTES = 1024**3  # one member, decompressed


class ArchiveError(ValueError):
    """The archive cannot be read (broken, not an archive, or past the upload's budget)."""


class BudgetExceeded(ArchiveError):
    pass


@dataclass(frozen=True)
class UploadLimits:
    max_depth: int = MAX_DEPTH
    max_members: int = MAX_MEMBERS
    max_unpacked_bytes: int = MAX_UNPACKED_BYTES
    max_member_bytes: int = MAX_MEMBER_BYTES
    # The largest item (one image) the receiver takes; None: the receiver judges (the gateway
    # refuses each file over GATEWAY_MAX_UPLOAD_BYTES on its own).
    max_item_bytes: int | None = None


class UploadBudget:
    """The limits of one upload and what it has spent of them so far."""

    def __init__(self, limits: UploadLimits | None = None) -> None:
        self.limits = limits or UploadLimits()
        self.depth = 0
        self.members = 0
        self.unpacked_bytes = 0

    @contextmanager
    def level(self) -> Iterator[None]:
        """One archive being read, for as long as its contents are being read."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def check_depth(self) -> None:
        if self.depth > self.limits.max_depth:
            raise BudgetExceeded(f"archives nested deeper than {self.limits.max_depth} levels")

    def count_members(self, count: int) -> None:
        self.members += count
        if self.members > self.limits.max_members:
            raise BudgetExceeded(
                f"the upload holds more than {self.limits.max_members} archive members")

    def spend(self, size: int) -> None:
        """Bytes decompressed; raises BudgetExceeded once the upload's total is passed."""
        self.unpacked_bytes += size
        if self.unpacked_bytes > self.limits.max_unpacked_bytes:
            raise BudgetExceeded(
                f"the upload unpacks to more than {self.limits.max_unpacked_bytes} bytes")
