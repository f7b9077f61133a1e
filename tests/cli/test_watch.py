"""`nauplius watch`: real instrument files copied into a folder in stages; only complete units
are read and sent, once, also across a restart."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nauplius.formats.items import IngestItem, Refused
from nauplius.watch import STATE_FILE, Watcher

BIN = "D20220522T000439_IFCB134"


class Jobs:
    """Records what each poll sends, as the gateway would receive it."""

    def __init__(self) -> None:
        self.sent: list[list[IngestItem | Refused]] = []

    def __call__(self, found) -> int:
        self.sent.append(list(found))
        return len(self.sent)

    def sources(self, job: int) -> list[str]:
        return sorted(Path(thing.source).name for thing in self.sent[job])


@pytest.fixture
def images(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "zoolake" / "fish").iterdir())[:3]


def test_waits_for_a_whole_bin_and_a_finished_file(tmp_path, shared_data, images):
    bins = shared_data / "ifcb" / "bins"
    for suffix in (".hdr", ".adc"):
        shutil.copy(bins / f"{BIN}{suffix}", tmp_path)
    growing = tmp_path / images[0].name
    data = images[0].read_bytes()
    growing.write_bytes(data[: len(data) // 2])
    jobs = Jobs()
    watcher = Watcher(tmp_path, jobs)

    assert watcher.poll() == []  # first sight: nothing is known to be stable yet
    with growing.open("ab") as out:
        out.write(data[len(data) // 2:])
    assert watcher.poll() == [] and jobs.sent == []  # still growing; the bin lacks its .roi
    sent = watcher.poll()
    assert [unit.read_from.name for unit in sent] == [images[0].name]
    assert jobs.sent[0][0].data == data  # the whole file, not the half seen first

    shutil.copy(bins / f"{BIN}.roi", tmp_path)
    assert watcher.poll() == []  # the .roi just appeared
    assert [unit.read_from.name for unit in watcher.poll()] == [f"{BIN}.hdr"]
    rois = [thing for thing in jobs.sent[1] if isinstance(thing, IngestItem)]
    assert len(rois) == 7 and {r.sample for r in rois} == {BIN}
    assert watcher.poll() == [] and len(jobs.sent) == 2  # nothing is sent twice


def test_restart_sends_only_what_is_new_or_changed(tmp_path, images):
    for image in images[:2]:
        shutil.copy(image, tmp_path)
    jobs = Jobs()
    first = Watcher(tmp_path, jobs)
    first.poll()
    first.poll()
    assert jobs.sources(0) == sorted(p.name for p in images[:2])
    assert (tmp_path / STATE_FILE).is_file()

    shutil.copy(images[2], tmp_path)
    (tmp_path / images[0].name).write_bytes(images[1].read_bytes())  # rewritten in place
    restarted = Watcher(tmp_path, jobs)
    restarted.poll()
    restarted.poll()
    assert len(jobs.sent) == 2
    assert jobs.sources(1) == sorted([images[0].name, images[2].name])


def test_invalid_bin_is_sent_refused_once_and_a_partial_one_never(tmp_path, shared_data):
    bad = shared_data / "ifcb" / "bad"
    for path in [*(bad / "partial").iterdir(), *(bad / "invalid").iterdir()]:
        shutil.copy(path, tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    jobs = Jobs()
    watcher = Watcher(tmp_path, jobs)
    for _ in range(3):
        watcher.poll()
    # The partial bin has no .roi, so it is never complete; notes.txt is no unit.
    assert len(jobs.sent) == 1
    [refused] = jobs.sent[0]
    assert isinstance(refused, Refused) and refused.source.endswith("D20130101T101010_IFCB099")
