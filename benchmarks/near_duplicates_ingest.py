"""What the near-duplicate check costs ingest: `nauplius bench ingest` twice on the same images,
once as it sends them (no sample: the worker skips the check) and once with an instrument and a
sample on every image (SAMPLE_SIZE images a sample, in file order: the check runs, one batched
search query per claimed batch). Prints both runs' rate and the worker's seconds in each service.

    .venv/bin/python benchmarks/near_duplicates_ingest.py [--data ../shared/data/ndsb] [--limit 1000]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nauplius import bench_ingest
from nauplius.formats.items import IngestItem

SAMPLE_SIZE = 100
plain_read_paths = bench_ingest.read_paths


def with_samples(paths: list[Path], *args: Any, **kw: Any) -> Iterator[Any]:
    for position, thing in enumerate(plain_read_paths(paths, *args, **kw)):
        if isinstance(thing, IngestItem):
            thing = dataclasses.replace(thing, instrument="bench",
                                        sample=f"S-{position // SAMPLE_SIZE}")
        yield thing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/ndsb")
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    keys = ("images", "stored", "seconds", "images_per_s", "index_s", "service_seconds",
            "cpu_seconds_total", "cores_busy", "load_average")
    for name, reader in (("no sample (check skipped)", plain_read_paths), ("with samples", with_samples)):
        bench_ingest.read_paths = reader
        result = bench_ingest.run(args.data, args.limit, progress=False)
        print(name, json.dumps({key: result[key] for key in keys}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
