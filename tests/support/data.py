"""Where the shared, real data set lives, and small pickers over it."""

import csv
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
ZOOLAKE = SHARED_DATA / "zoolake"


@dataclass(frozen=True)
class SampleImage:
    path: Path
    label: str
    sha256: str

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


def first_of_each_class(classes: int = 8) -> list[SampleImage]:
    """The first image of each of the first `classes` ZooLake classes in its manifest, with the
    manifest's label and sha256."""
    picked: dict[str, SampleImage] = {}
    with open(ZOOLAKE / "manifest.csv", newline="") as manifest:
        for row in csv.DictReader(manifest):
            if row["label"] not in picked:
                picked[row["label"]] = SampleImage(ZOOLAKE / row["path"], row["label"], row["sha256"])
            if len(picked) == classes:
                break
    return list(picked.values())


def first_images(folder: str, count: int = 1, pattern: str = "*.jp*g") -> list[Path]:
    """The first `count` images matching `pattern` in a folder of the shared data set (as
    "zoolake/daphnia" or "ifcb/labelled/Mesodinium_major"), in name order."""
    paths = sorted((SHARED_DATA / folder).glob(pattern))[:count]
    assert len(paths) == count, f"expected {count} images in {SHARED_DATA / folder}"
    return paths


def zoolake_images(label: str, count: int) -> list[Path]:
    """The first `count` ZooLake images of one class, in name order."""
    paths = sorted((ZOOLAKE / label).iterdir())[:count]
    assert len(paths) == count, f"expected {count} images in {ZOOLAKE / label}"
    return paths
