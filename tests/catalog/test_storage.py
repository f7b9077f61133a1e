"""Content-addressed files written atomically."""

import os

import pytest

from services.catalog import storage
from services.catalog.staging import StagingStore
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


def test_staged_bytes_are_linked_not_written_again(tmp_path, zoolake):
    staging = StagingStore(tmp_path)
    staging.write(SHA, zoolake[0].data)
    store = ImageStore(tmp_path)
    store.write(SHA, "jpeg", zoolake[0].data, b"thumb", copy_of=staging.path(SHA))
    image = store.image_path(SHA, "jpeg")
    assert os.stat(image).st_ino == os.stat(staging.path(SHA)).st_ino
    staging.delete(SHA)  # the job's item is settled: the stored image keeps its bytes
    assert image.read_bytes() == zoolake[0].data and os.stat(image).st_nlink == 1


def test_bytes_are_written_when_the_staged_file_is_gone(tmp_path, zoolake):
    store = ImageStore(tmp_path)
    store.write(SHA, "jpeg", zoolake[0].data, b"thumb", copy_of=StagingStore(tmp_path).path(SHA))
    image = store.image_path(SHA, "jpeg")
    assert image.read_bytes() == zoolake[0].data and os.stat(image).st_nlink == 1


def test_an_image_that_is_its_own_thumbnail_is_linked_as_it(tmp_path, zoolake):
    store = ImageStore(tmp_path)
    store.write(SHA, "jpeg", zoolake[0].data, None)
    image, thumbnail = store.image_path(SHA, "jpeg"), store.thumbnail_path(SHA)
    assert thumbnail.read_bytes() == zoolake[0].data
    assert os.stat(thumbnail).st_ino == os.stat(image).st_ino
