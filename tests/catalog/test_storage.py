"""Content-addressed files written atomically."""

import os

import pytest

from services.catalog import storage
from services.catalog.storage import ImageStore

SHA = "ab" + "cd" + "0" * 60


def test_layout_and_bytes(tmp_path, zoolake):
    store = ImageStore(tmp_path)
    store.write(SHA, "jpeg", zoolake[0].data, b"thumb")
    assert store.image_path(SHA, "jpeg") == tmp_path / "images" / "ab" / "cd" / f"{SHA}.jpg"
    assert store.thumbnail_path(SHA) == tmp_path / "thumbnails" / "ab" / "cd" / f"{SHA}.jpg"
    assert store.image_path(SHA, "jpeg").read_bytes() == zoolake[0].data
    assert store.thumbnail_path(SHA).read_bytes() == b"thumb"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [f"{SHA}.jpg"] * 2


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    # A crash between writing and renaming cannot be caused for real; os.replace fails instead.
    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(storage.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        ImageStore(tmp_path).write(SHA, "png", b"\x89PNG data", b"thumb")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_existing_file_is_kept(tmp_path):
    store = ImageStore(tmp_path)
    store.write(SHA, "png", b"first", b"t1")
    before = os.stat(store.image_path(SHA, "png")).st_mtime_ns
    store.write(SHA, "png", b"second", b"t2")
    assert store.image_path(SHA, "png").read_bytes() == b"first"
    assert os.stat(store.image_path(SHA, "png")).st_mtime_ns == before
