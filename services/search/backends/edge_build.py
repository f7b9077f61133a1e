"""Building a Qdrant Edge shard's HNSW index in a child process.

qdrant-edge-py 0.9.0's `optimize()` holds the GIL for the whole build (147 s at 200,000 x
1280-d), so built in the search service it would stop every query for that long. Here the
service copies a shard's folder, a child process (`python -m services.search.backends.edge_build
PATH`) loads the copy, optimizes it and exits, and the service swaps the built copy in
(`edge_shards.Member`). The child runs at a lower CPU priority, so queries win the cores.
"""
import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path

logger = logging.getLogger("nauplius.search")

NICENESS = 10


class BuildFailed(Exception):
    pass


async def build_in_child(folder: Path) -> float:
    """Optimize the shard at `folder` in a child process; seconds it took. BuildFailed if the
    child fails (its last output lines in the message); cancelling kills the child."""
    started = time.perf_counter()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.search.backends.edge_build", str(folder),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await child.communicate()
    except BaseException:
        if child.returncode is None:
            child.kill()
            await child.wait()
        raise
    if child.returncode != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise BuildFailed(f"building {folder} exited with {child.returncode}: {' | '.join(tail)}")
    return time.perf_counter() - started


def optimize_folder(folder: Path) -> bool:
    import qdrant_edge as qe

    shard = qe.EdgeShard.load(str(folder))
    try:
        changed = shard.optimize()
        shard.flush()
    finally:
        shard.close()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build the HNSW index of one Qdrant Edge shard")
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    os.nice(NICENESS)
    optimize_folder(args.folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
