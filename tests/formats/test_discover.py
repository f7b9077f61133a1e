"""One folder holding IFCB bins, images, archives and an EcoTaxa export side by side."""
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from nauplius.formats.discover import read_paths
from nauplius.formats.items import IngestItem, Refused


def link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source)


@pytest.fixture
def mixed(shared_data, tmp_path) -> Path:
    folder = tmp_path / "drop"
    for path in (shared_data / "ifcb" / "bins").glob("D20220522T000439_IFCB134.*"):
        link(path, folder / "ifcb" / path.name)
    for path in (shared_data / "ifcb" / "bad" / "partial").iterdir():
        link(path, folder / "ifcb" / path.name)
    daphnia = sorted((shared_data / "zoolake" / "daphnia").iterdir())[:3]
    for path in daphnia:
        link(path, folder / "daphnia" / path.name)
    fish = sorted((shared_data / "zoolake" / "fish").iterdir())[:2]
    with zipfile.ZipFile(folder / "fish.zip", "w") as zipped:
        for path in fish:
            zipped.write(path, f"fish/{path.name}")
        zipped.writestr("../escape.png", b"never unpacked")
    ndsb = sorted((shared_data / "ndsb" / "acantharia_protist").iterdir())[:2]
    with tarfile.open(folder / "ndsb.tar.gz", "w:gz") as tarred:
        for path in ndsb:
            tarred.add(path, f"acantharia_protist/{path.name}")
    (folder / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    (folder / "notes.txt").write_text("field notes")
    tsv = folder / "export" / "ecotaxa_x.tsv"
    link(daphnia[0], folder / "export" / "img" / daphnia[0].name)
    tsv.write_text(f"object_id\timg_file_name\tobject_annotation_category\n[t]\t[t]\t[t]\n"
                   f"o1\timg/{daphnia[0].name}\tDaphnia\n")
    return folder


def test_everything_is_recognised(mixed):
    found = list(read_paths([mixed], label_from_folder=True))
    items = [f for f in found if isinstance(f, IngestItem)]
    refused = {Path(f.source).name: f.reason for f in found if isinstance(f, Refused)}
    assert Counter(item.label for item in items) == Counter(
        {None: 7, "daphnia": 3, "fish": 2, "acantharia_protist": 2, "Daphnia": 1})
    assert Counter(item.metadata.get("format") for item in items)["ifcb"] == 7
    assert set(refused) == {"IFCB5_2012_028_081515", "broken.zip", "escape.png"}
    assert "missing .roi" in refused["IFCB5_2012_028_081515"]
    assert "leaves the archive" in refused["escape.png"]
    fish_sources = [item.source for item in items if item.label == "fish"]
    assert all("fish.zip!fish/" in source for source in fish_sources)
    assert not any("escape" in item.filename for item in items)  # the ../ member was refused


def test_labels_only_with_the_flag(mixed):
    labels = {f.label for f in read_paths([mixed / "daphnia"]) if isinstance(f, IngestItem)}
    assert labels == {None}


def test_a_named_file_of_unknown_kind_is_refused(mixed):
    (refused,) = read_paths([mixed / "notes.txt"])
    assert isinstance(refused, Refused) and "not an image" in refused.reason


def test_a_missing_path_fails_before_anything_is_read(mixed):
    with pytest.raises(FileNotFoundError, match="nope"):
        list(read_paths([mixed / "daphnia", mixed / "nope"]))
