"""A collection's Qdrant Edge shards: one per range of point ids, each swapped for a rebuilt copy
without a pause.

Point `id` lives in shard `id // shard_points` (catalog image ids come from one sequence, so new
images fill the newest shard and a shard never holds more than `shard_points` points). Bounded
shards keep each HNSW build bounded too: the build time grows faster than the points (at 1280-d
on this 2-core machine 7.6 s at 50,000, minutes at 200,000), and so does the pause of opening a
built shard (0.13 s at 50,000), which is the one moment a query may wait on a build.

Layout: `shards/<n>/gen-<g>/` is generation g of shard n, `shards/<n>/CURRENT` names the one in
use. A build copies the current generation to the next one (writes wait for the copy, queries
do not), the child process optimizes the copy (`edge_build`), the service opens it, replays the
writes that reached the shard meanwhile, flushes, points CURRENT at it and swaps it in; queries
still running on the old generation finish there before it is closed and removed. A crash at any
step leaves CURRENT on a generation that holds every acknowledged write.
"""
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import qdrant_edge as qe

logger = logging.getLogger("nauplius.search")

CURRENT = "CURRENT"
GENERATION = "gen-{}"


class ShardHandle:
    """An open Edge shard that queries may still be using after it has been swapped out."""

    def __init__(self, shard: qe.EdgeShard, folder: Path) -> None:
        self.shard = shard
        self.folder = folder
        self._users = 0
        self._retired = False
        self._lock = threading.Lock()

    def enter(self) -> qe.EdgeShard:
        with self._lock:
            self._users += 1
        return self.shard

    def leave(self) -> None:
        with self._lock:
            self._users -= 1
            last = self._retired and self._users == 0
        if last:
            self._close_and_remove()

    def retire(self) -> None:
        """Close and remove it once no query uses it any more."""
        with self._lock:
            self._retired = True
            unused = self._users == 0
        if unused:
            self._close_and_remove()

    def _close_and_remove(self) -> None:
        self.shard.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class Member:
    """One shard of a collection and the writes that reach it while a copy of it is built."""

    def __init__(self, number: int, folder: Path, generation: int, shard: qe.EdgeShard) -> None:
        self.number = number
        self.folder = folder
        self.generation = generation
        self._handle = ShardHandle(shard, folder / GENERATION.format(generation))
        self._swap_lock = threading.Lock()
        # Reentrant: a failed swap gives its build up while holding it.
        self.write_lock = threading.RLock()
        self.build_log: list[qe.UpdateOperation] | None = None
        self.dirty = False  # points added or removed since the last build began
        # Whether the current generation has an HNSW index (then searched through binary codes
        # where the collection keeps them; otherwise exactly).
        info = shard.info()
        self.indexed = info.indexed_vectors_count > 0
        self.points = info.points_count
        self.last_write = 0.0  # time.monotonic() of that change

    @classmethod
    def create(cls, number: int, folder: Path, config: qe.EdgeConfig,
               prepare: Callable[[qe.EdgeShard], None]) -> "Member":
        shutil.rmtree(folder, ignore_errors=True)  # a creation cut short holds no points
        shard = qe.EdgeShard.create(str(folder / GENERATION.format(0)), config)
        prepare(shard)
        shard.flush()
        write_current(folder, 0)
        return cls(number, folder, 0, shard)

    @classmethod
    def load(cls, number: int, folder: Path, config: qe.EdgeConfig) -> "Member":
        generation = int((folder / CURRENT).read_text())
        for stale in folder.glob(GENERATION.format("*")):  # builds cut short, old generations
            if stale.name != GENERATION.format(generation):
                shutil.rmtree(stale, ignore_errors=True)
        shard = qe.EdgeShard.load(str(folder / GENERATION.format(generation)), config)
        return cls(number, folder, generation, shard)

    @contextmanager
    def shard(self) -> Iterator[qe.EdgeShard]:
        """The current generation, kept open until the caller is done with it."""
        with self._swap_lock:
            handle = self._handle
            shard = handle.enter()
        try:
            yield shard
        finally:
            handle.leave()

    def update(self, operation: qe.UpdateOperation, *, changes_points: bool = True) -> None:
        with self.write_lock, self.shard() as shard:
            shard.update(operation)
            if changes_points:
                self.points = shard.info().points_count
            if self.build_log is not None:
                self.build_log.append(operation)
            if changes_points:
                self.dirty = True
                self.last_write = time.monotonic()

    # --- a build: copy (blocking), optimize the copy in a child, swap (blocking) ---

    def copy_for_build(self) -> Path:
        """The current generation's files, copied while no write runs. Not flushed first: a
        flush holds the GIL for up to a second at 50,000 points, and what it would write is in
        the write-ahead log, which the copy replays when the child opens it (Qdrant's own
        recovery after a crash, which is what a copy taken between two writes looks like)."""
        target = self.folder / GENERATION.format(self.generation + 1)
        with self.write_lock:
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(self._handle.folder, target)
            self.build_log = []
            self.dirty = False
        return target

    def swap_in(self, built: Path, config: qe.EdgeConfig) -> None:
        """Open the built copy, replay the writes it missed and make it the current generation."""
        try:
            shard = qe.EdgeShard.load(str(built), config)  # the one pause (GIL held)
        except BaseException:
            self.abandon_build(built)
            raise
        with self.write_lock:
            try:
                for operation in self.build_log or []:
                    shard.update(operation)
                shard.flush()
            except BaseException:
                shard.close()
                self.abandon_build(built)
                raise
            write_current(self.folder, self.generation + 1)
            with self._swap_lock:
                old, self._handle = self._handle, ShardHandle(shard, built)
                self.generation += 1
                info = shard.info()
                self.indexed = info.indexed_vectors_count > 0
                self.points = info.points_count
                self.build_log = None
        old.retire()

    def abandon_build(self, built: Path) -> None:
        """After a failed or cancelled build: the live generation stays, the copy goes."""
        shutil.rmtree(built, ignore_errors=True)
        with self.write_lock:
            if self.build_log is not None:
                self.dirty = True
                self.last_write = time.monotonic()
            self.build_log = None

    def close(self) -> None:
        with self.write_lock, self._swap_lock:
            self._handle.shard.flush()
            self._handle.shard.close()


def write_current(folder: Path, generation: int) -> None:
    tmp = folder / (CURRENT + ".tmp")
    with open(tmp, "w") as file:
        file.write(str(generation))
        file.flush()
        os.fsync(file.fileno())
    tmp.replace(folder / CURRENT)
