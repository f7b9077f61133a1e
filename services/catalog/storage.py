"""Content-addressed image bytes and thumbnails under data_dir.

images/ab/cd/<sha256>.<ext> and thumbnails/ab/cd/<sha256>.jpg. Files are written to a temp file
in the same folder, fsynced and renamed (os.replace), so a crash never leaves a half file under
a final name. Bytes that are on disk already, complete and under a content-addressed name (an
ingest job's staged file, or the image itself as its own thumbnail), are hard-linked instead of
written again: one directory entry instead of a new file, its write and its fsync, which cost
more CPU per image on this filesystem than decoding it (docs/benchmarks.md, "Ingest at
instrument rate"). Blocking: call from a worker thread.
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

    def write(self, sha256: str, image_format: str, data: bytes, thumbnail: bytes | None,
              copy_of: Path | None = None) -> None:
        """`thumbnail` None: the image (a small JPEG) is its own thumbnail. `copy_of`: a
        complete file holding exactly `data` (the staged bytes), linked where it can be."""
        image = self.image_path(sha256, image_format)
        _link_or_write(image, data, copy_of)
        if thumbnail is None:
            _link_or_write(self.thumbnail_path(sha256), data, image)
        else:
            _write_atomic(self.thumbnail_path(sha256), thumbnail)


def _link_or_write(path: Path, data: bytes, source: Path | None) -> None:
    """`path` made a hard link of `source` (which holds `data`); written when it cannot be (no
    source, the source gone meanwhile, another filesystem, links not supported)."""
    if path.exists():
        return
    if source is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, path)
            return
        except FileExistsError:  # a concurrent upload of the same bytes put it there
            return
        except OSError:
            pass
    _write_atomic(path, data)


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
