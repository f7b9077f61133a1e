"""Bytes of accepted job items, content-addressed under data_dir/staging/ab/cd/<sha256>, written
atomically before their rows are committed, so nothing a job accepted is lost, and deleted once
every item carrying them is done or a duplicate (jobs.release_staged). Blocking."""

from pathlib import Path

from services.catalog.storage import _write_atomic


class StagingStore:
    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "staging"

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def archive_path(self, job_id: int) -> Path:
        """Where an archive job's upload waits for the worker that unpacks it."""
        return self.root / "archives" / str(job_id)

    def write(self, sha256: str, data: bytes) -> None:
        _write_atomic(self.path(sha256), data)

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)
