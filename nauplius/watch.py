"""`nauplius watch DIR`: ingest what an instrument writes into a folder, once it is complete.

Each poll lists the folder's files with their size and mtime. A file is complete when it is
unchanged since the previous poll; an IFCB bin when its .hdr, .adc and .roi all are. Complete
units not yet sent go out as one ingest job per poll. What was sent (path, size, mtime) is kept
in a state file in the folder, so a restarted watch sends only what is new or has changed
(and a re-sent content would be a duplicate anyway: ingest is idempotent by sha256).
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from nauplius.core.contracts.gateway import gateway_headers
from nauplius.formats.archives import is_archive
from nauplius.formats.discover import absolute_path, ecotaxa_images, is_ifcb_file, read_paths
from nauplius.formats.ecotaxa import is_ecotaxa_tsv
from nauplius.formats.ifcb import BIN_SUFFIXES, bin_stem
from nauplius.formats.images import is_image_file
from nauplius.formats.items import IngestItem, Refused
from nauplius.stack import interrupted_by_sigterm

log = logging.getLogger("nauplius.watch")

STATE_FILE = ".nauplius-watch.json"
Signature = tuple[int, int]  # size, mtime_ns


@dataclass(frozen=True)
class Unit:
    """What is read and sent together: one file, or the three files of an IFCB bin."""

    read_from: Path  # the path given to the readers (a bin: its .hdr)
    files: tuple[Path, ...]


@dataclass
class Watcher:
    folder: Path
    send: Callable[[Iterable[IngestItem | Refused]], int]  # sends one job, returns its id
    label_from_folder: bool = False
    state_path: Path | None = None
    _previous: dict[Path, Signature] = field(default_factory=dict)
    _sent: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.state_path = self.state_path or self.folder / STATE_FILE
        if self.state_path.is_file():
            self._sent = json.loads(self.state_path.read_text())

    def poll(self) -> list[Unit]:
        """One look at the folder: send every complete, unsent unit as one job; returns them."""
        current = self._signatures()
        # An empty file counts too: a bin without triggers has an empty .adc and .roi.
        stable = {path for path, signature in current.items()
                  if self._previous.get(path) == signature}
        self._previous = current
        ready = [unit for unit in self._units(current) if set(unit.files) <= stable
                 and any(self._sent.get(self._key(p)) != list(current[p]) for p in unit.files)]
        if ready:
            found = read_paths([unit.read_from for unit in ready], self.label_from_folder)
            job_id = self.send(found)
            log.info("job %d: %d new unit(s) from %s", job_id, len(ready), self.folder)
            for unit in ready:
                for path in unit.files:
                    self._sent[self._key(path)] = list(current[path])
            self._save()
        return ready

    def run(self, poll_s: float) -> None:
        """Poll until interrupted; a failed send (gateway away) is tried again at the next poll."""
        while True:
            try:
                self.poll()
            except httpx.HTTPError as exc:
                log.warning("could not send to the gateway, will retry: %s", exc)
            time.sleep(poll_s)

    def _signatures(self) -> dict[Path, Signature]:
        signatures = {}
        for path in sorted(self.folder.rglob("*")):
            if path.name.startswith(".") or path == self.state_path:
                continue
            try:
                info = path.stat()
            except FileNotFoundError:  # removed between listing and stat
                continue
            if path.is_file():
                signatures[path] = (info.st_size, info.st_mtime_ns)
        return signatures

    def _units(self, files: dict[Path, Signature]) -> list[Unit]:
        described = set().union(*(ecotaxa_images(f) for f in files if is_ecotaxa_tsv(f)))
        units, bins = [], set()
        for path in files:
            if is_ifcb_file(path):
                bins.add(bin_stem(path))
            elif is_ecotaxa_tsv(path) or is_archive(path) or (
                    is_image_file(path) and absolute_path(path) not in described):
                units.append(Unit(path, (path,)))
        for stem in sorted(bins):
            parts = tuple(stem.with_name(stem.name + suffix) for suffix in BIN_SUFFIXES)
            if all(part in files for part in parts):  # not before all three are there
                units.append(Unit(parts[0], parts))
        return units

    def _key(self, path: Path) -> str:
        return path.relative_to(self.folder).as_posix()

    def _save(self) -> None:
        assert self.state_path is not None  # set in __post_init__
        temporary = self.state_path.with_name(self.state_path.name + ".tmp")
        temporary.write_text(json.dumps(self._sent, indent=0, sort_keys=True))
        os.replace(temporary, self.state_path)


def watch_folder(folder: Path, url: str, poll_s: float, label_from_folder: bool = False,
                 api_key: str | None = None) -> int:
    """The command: poll until Ctrl-C, counting the images sent on a progress bar."""
    from tqdm import tqdm

    from nauplius.ingest import send_job

    with httpx.Client(base_url=url, timeout=300.0, headers=gateway_headers(api_key)) as client, \
            tqdm(unit="img", desc=f"watch {folder}") as bar:
        def send(found: Iterable[IngestItem | Refused]) -> int:
            def counted() -> Iterable[IngestItem | Refused]:
                for thing in found:
                    bar.update(1)
                    yield thing
            return send_job(client, counted())

        try:
            with interrupted_by_sigterm():  # a process manager's SIGTERM stops it like Ctrl-C
                Watcher(folder, send, label_from_folder).run(poll_s)
        except KeyboardInterrupt:
            return 0
    return 0
