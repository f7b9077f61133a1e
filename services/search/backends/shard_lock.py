"""Exclusive lock on a shard folder, so that only one process ever opens it."""

import fcntl
import os
from pathlib import Path

from services.search.errors import ShardLocked

LOCK_FILE = ".lock"


class FolderLock:
    """`flock` on `<folder>/.lock`; held until `release()` or process exit.

    flock locks belong to an open file description, so a second open in the same process is
    refused too, exactly like one from another process.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ShardLocked(str(self.folder)) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
