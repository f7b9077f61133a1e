"""Content-addressed image bytes and thumbnails under data_dir.

images/ab/cd/<sha256>.<ext> and thumbnails/ab/cd/<sha256>.jpg. Files are written to a temp file
in the same folder, fsynced and renamed (os.replace), so a crash never leaves a half file under
a final name. Blocking: call from a worker thread.
"""

import os
import tempfile
from pathlib import Path

from services.catalog.decoding import EXTENSIONS


class ImageStore:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)

    @staticmethod
    def _fanout(sha256: str) -> Path:
        return Path(sha256[:2], sha256[2:4])

    def image_path(self, sha256: str, image_format: str) -> Path:
        return (
            self.data_dir / "images" / self._fanout(sha256) / f"{sha256}.{EXTENSIONS[image_format]}"
        )

    def thumbnail_path(self, sha256: str) -> Path:
        return self.data_dir / "thumbnails" / self._fanout(sha256) / f"{sha256}.jpg"

    def write(self, sha256: str, image_format: str, data: bytes, thumbnail: bytes) -> None:
        _write_atomic(self.image_path(sha256, image_format), data)
        _write_atomic(self.thumbnail_path(sha256), thumbnail)


def _write_atomic(path: Path, data: bytes) -> None:
    # Same name means same content: a file already there (from an upload whose row was
    # rolled back, or a concurrent upload) is complete and correct.
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
