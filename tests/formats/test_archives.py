"""Hostile archives: one budget across every nesting level, bombs stopped at it, links, devices
and escaping paths refused by name, one bad member never costing the others."""
import gzip
import io
import stat
import tarfile
import zipfile
from pathlib import Path
from typing import Literal

import pytest

from nauplius.formats.archives import COPY_CHUNK
from nauplius.formats.budget import UploadBudget, UploadLimits
from nauplius.formats.discover import read_archive, read_paths
from nauplius.formats.items import IngestItem, Refused


@pytest.fixture
def images(shared_data) -> list[Path]:
    return sorted((shared_data / "zoolake" / "daphnia").iterdir())[:4]


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in entries.items():
            zipped.writestr(name, data)
    return buffer.getvalue()


def tar_of(entries: dict[str, bytes], compression: Literal["", "gz"] = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compression == "gz" else "w:") as tarred:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tarred.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def split(found) -> tuple[list[IngestItem], dict[str, str]]:
    found = list(found)
    return ([f for f in found if isinstance(f, IngestItem)],
            {f.source: f.reason for f in found if isinstance(f, Refused)})


def test_nested_archives_share_one_budget_across_levels(tmp_path, images):
    a, b, c, d = (path.read_bytes() for path in images)
    inner = zip_of({"c.jpeg": c, "d.jpeg": d})
    middle = tar_of({"b.jpeg": b, "inner.zip": inner})
    (tmp_path / "outer.zip").write_bytes(zip_of({"a.jpeg": a, "middle.tar": middle}))
    # outer spends a + middle, the tar stream middle, inner c + d. Each level alone stays well
    # within this budget; the three together do not, so the innermost stops at it.
    budget = len(a) + 2 * len(middle) + (len(c) + len(d)) // 2
    assert max(len(a) + len(middle), len(middle), len(c) + len(d)) < budget
    items, refused = split(read_paths([tmp_path / "outer.zip"],
                                      limits=UploadLimits(max_unpacked_bytes=budget)))
    assert sorted(item.filename for item in items) == ["a.jpeg", "b.jpeg"]
    archive = f"{tmp_path / 'outer.zip'}!middle.tar!inner.zip"
    assert refused == {archive: f"the upload unpacks to more than {budget} bytes"}


def test_members_are_counted_across_levels(tmp_path, images):
    data = images[0].read_bytes()
    inner = zip_of({"c.jpeg": data, "d.jpeg": data})
    (tmp_path / "outer.zip").write_bytes(zip_of({"a.jpeg": data, "inner.zip": inner}))
    items, refused = split(read_archive(tmp_path / "outer.zip", limits=UploadLimits(max_members=3)))
    assert [item.filename for item in items] == ["a.jpeg"]
    assert list(refused.values()) == ["the upload holds more than 3 archive members"]


def test_archives_nested_past_the_depth_are_refused(tmp_path, images):
    data = zip_of({"a.jpeg": images[0].read_bytes()})
    for level in range(5):  # a.jpeg sits inside six archives
        data = zip_of({f"level{level}.zip": data})
    (tmp_path / "deep.zip").write_bytes(data)
    items, refused = split(read_archive(tmp_path / "deep.zip"))
    assert items == []
    (reason,) = refused.values()
    assert reason == "archives nested deeper than 4 levels"


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_bomb_stops_at_the_budget_without_inflating_past_it(tmp_path, kind):
    zeros = bytes(16 * 1024 * 1024)  # 16 MiB of zeros squeeze into some 16 KB
    packed = zip_of({"zeros.png": zeros}) if kind == "zip" else tar_of({"zeros.png": zeros}, "gz")
    assert len(packed) < 1024 * 1024
    (tmp_path / f"bomb.{kind}").write_bytes(packed)
    limits = UploadLimits(max_unpacked_bytes=4 * 1024 * 1024)
    budget = UploadBudget(limits)
    items, refused = split(read_archive(tmp_path / f"bomb.{kind}", budget=budget))
    assert items == [] and list(refused.values()) == [
        f"the upload unpacks to more than {limits.max_unpacked_bytes} bytes"]
    assert budget.unpacked_bytes <= limits.max_unpacked_bytes + COPY_CHUNK


def test_a_pax_header_bomb_is_metered_before_tarfile_holds_it(tmp_path):
    # tarfile reads a pax header whole into memory; its bytes are spent before it can.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tarred:
        info = tarfile.TarInfo("a.png")
        info.pax_headers = {"comment": "x" * (32 * 1024 * 1024)}
        tarred.addfile(info, io.BytesIO(b""))
    (tmp_path / "pax.tar.gz").write_bytes(buffer.getvalue())
    budget = UploadBudget(UploadLimits(max_unpacked_bytes=1024 * 1024))
    items, refused = split(read_archive(tmp_path / "pax.tar.gz", budget=budget))
    assert items == [] and "more than 1048576 bytes" in next(iter(refused.values()))
    assert budget.unpacked_bytes <= 2 * 1024 * 1024


def test_a_member_over_a_limit_is_one_refused_member(tmp_path, images):
    small, large = sorted((path.read_bytes() for path in images[:2]), key=len)
    (tmp_path / "drop.zip").write_bytes(zip_of({"small.jpeg": small, "large.jpeg": large}))
    items, refused = split(read_archive(tmp_path / "drop.zip",
                                        limits=UploadLimits(max_item_bytes=len(small))))
    assert [item.filename for item in items] == ["small.jpeg"]
    assert refused == {f"{tmp_path / 'drop.zip'}!large.jpeg":
                       f"file too large: more than {len(small)} bytes"}
    items, refused = split(read_archive(tmp_path / "drop.zip",
                                        limits=UploadLimits(max_member_bytes=len(small))))
    assert [item.filename for item in items] == ["small.jpeg"]
    assert list(refused.values()) == [f"over the limit of {len(small)} bytes for one member"]


def test_links_devices_and_escaping_paths_in_a_tar_are_refused_members(tmp_path, images):
    data = images[0].read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tarred:
        def add(name: str, kind: bytes = tarfile.REGTYPE, payload: bytes = b"", **fields):
            info = tarfile.TarInfo(name)
            info.type, info.size = kind, len(payload)
            for key, value in fields.items():
                setattr(info, key, value)
            tarred.addfile(info, io.BytesIO(payload) if payload else None)

        add("good.jpeg", payload=data)
        add("symlink.jpeg", tarfile.SYMTYPE, linkname="/etc/passwd")
        add("hardlink.jpeg", tarfile.LNKTYPE, linkname="good.jpeg")
        add("fifo.jpeg", tarfile.FIFOTYPE)
        add("device.jpeg", tarfile.CHRTYPE, devmajor=1, devminor=3)
        add("/tmp/absolute.jpeg", payload=data)
        add("../escape.jpeg", payload=data)
        add("good.jpeg", payload=data[:100])  # a second one of the same name
    (tmp_path / "drop.tar").write_bytes(buffer.getvalue())
    items, refused = split(read_archive(tmp_path / "drop.tar"))
    assert [(item.filename, item.data) for item in items] == [("good.jpeg", data)]
    archive = tmp_path / "drop.tar"
    assert refused == {
        f"{archive}!symlink.jpeg": "a symbolic link: links are never followed",
        f"{archive}!hardlink.jpeg": "a hard link: links are never followed",
        f"{archive}!fifo.jpeg": "a device, FIFO or socket: only regular files are unpacked",
        f"{archive}!device.jpeg": "a device, FIFO or socket: only regular files are unpacked",
        f"{archive}!/tmp/absolute.jpeg": "an absolute path or one that leaves the archive (..)",
        f"{archive}!../escape.jpeg": "an absolute path or one that leaves the archive (..)",
        f"{archive}!good.jpeg": "a second member of the same name",
    }
    assert not (tmp_path / "escape.jpeg").exists()


def test_a_symlink_in_a_zip_is_refused(tmp_path, images):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("good.jpeg", images[0].read_bytes())
        link = zipfile.ZipInfo("link.jpeg")
        link.create_system = 3  # unix: the mode sits in the high half of external_attr
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zipped.writestr(link, "/etc/passwd")
    (tmp_path / "drop.zip").write_bytes(buffer.getvalue())
    items, refused = split(read_archive(tmp_path / "drop.zip"))
    assert [item.filename for item in items] == ["good.jpeg"]
    assert refused == {f"{tmp_path / 'drop.zip'}!link.jpeg":
                       "a symbolic link: links are never followed"}


@pytest.mark.parametrize("content", [b"\x1f\x8b" + bytes(100), b"just some text, no archive",
                                     gzip.compress(tar_of({"a.jpeg": b"x" * 5000}))[:-200]])
def test_a_corrupt_archive_is_one_refused_upload(tmp_path, content):
    (tmp_path / "drop.tar.gz").write_bytes(content)
    items, refused = split(read_archive(tmp_path / "drop.tar.gz"))
    assert items == [] and list(refused) == [str(tmp_path / "drop.tar.gz")]
    reason = refused[str(tmp_path / "drop.tar.gz")]
    assert reason.startswith(("broken archive", "not a zip or tar archive"))
