"""An EcoTaxa export (the TSV layout EcoTaxa writes) over real ZooLake images."""
from datetime import UTC, datetime

import pytest

from nauplius.formats.ecotaxa import read_export
from nauplius.formats.items import IngestItem, Refused

COLUMNS = ["object_id", "img_file_name", "object_annotation_category", "object_annotation_status",
           "object_lat", "object_lon", "object_date", "object_time", "object_depth_min",
           "object_depth_max", "sample_id", "acq_instrument"]
TYPES = ["[t]", "[t]", "[t]", "[t]", "[f]", "[f]", "[t]", "[t]", "[f]", "[f]", "[t]", "[t]"]


@pytest.fixture
def export(shared_data, tmp_path):
    images = sorted((shared_data / "zoolake" / "daphnia").iterdir())[:2]
    (tmp_path / "images").mkdir()
    for image in images:
        (tmp_path / "images" / image.name).symlink_to(image)
    rows = [
        ["lake_1", f"images/{images[0].name}", "Daphnia", "validated", "47.36", "8.67", "20180522",
         "000424", "0", "5", "greifensee_0522", "SPC"],
        ["lake_2", f"images/{images[1].name}", "", "", "47.36", "8.67", "20180522", "", "", "",
         "greifensee_0522", "SPC"],
        ["lake_3", "images/missing.jpeg", "Daphnia", "predicted", "", "", "", "", "", "", "", ""],
    ]
    tsv = tmp_path / "ecotaxa_greifensee.tsv"
    tsv.write_text("\n".join("\t".join(r) for r in [COLUMNS, TYPES, *rows]) + "\n")
    return tsv, images


def test_rows_map_onto_catalog_fields(export):
    tsv, images = export
    found = list(read_export(tsv))
    first, second, missing = found
    assert isinstance(first, IngestItem) and first.data == images[0].read_bytes()
    assert (first.label, first.label_state, first.sample, first.instrument) == (
        "Daphnia", "validated", "greifensee_0522", "SPC")
    assert first.captured_at == datetime(2018, 5, 22, 0, 4, 24, tzinfo=UTC)
    assert first.metadata["object_lat"] == pytest.approx(47.36)
    assert first.metadata["object_depth_max"] == 5.0 and first.metadata["object_id"] == "lake_1"
    assert (second.label, second.label_state) == (None, None)
    assert isinstance(missing, Refused) and "lake_3" in missing.source
    assert "missing.jpeg" in missing.reason


def test_a_tsv_without_image_column_is_refused(tmp_path):
    tsv = tmp_path / "ecotaxa_bad.tsv"
    tsv.write_text("object_id\tfoo\n[t]\t[t]\nx\ty\n")
    (refused,) = read_export(tsv)
    assert isinstance(refused, Refused) and "img_file_name" in refused.reason


def test_a_huge_cell_or_a_nan_number_refuses_only_its_row(export):
    # A 200,000-character cell once raised csv.Error and a `nan` [f] cell put a NaN into the
    # metadata, which the catalog refuses for the whole batch: each now refuses its own row.
    tsv, images = export
    good = tsv.read_text().splitlines()[2]
    cells = good.split("\t")
    rows = [good]
    for column, value in (("sample_id", "x" * 200_000), ("object_lat", "nan"),
                          ("object_lon", "-inf"), ("object_depth_min", "1e999")):
        changed = list(cells)
        changed[0] = f"bad_{column}"
        changed[COLUMNS.index(column)] = value
        rows.append("\t".join(changed))
    rows.append("\t".join(["lake_9", *cells[1:]]))
    tsv.write_text("\n".join(["\t".join(COLUMNS), "\t".join(TYPES), *rows]) + "\n")
    found = list(read_export(tsv))
    assert [f.source.rsplit(":", 1)[1] for f in found if isinstance(f, IngestItem)] == [
        "lake_1", "lake_9"]
    refused = [f for f in found if isinstance(f, Refused)]
    assert [r.reason for r in refused] == [
        "line 4: field larger than field limit (131072)",
        "object_lat: 'nan' is not a finite number",
        "object_lon: '-inf' is not a finite number",
        "object_depth_min: '1e999' is not a finite number",
    ]
    assert refused[0].source == f"{tsv}:2" and refused[1].source == f"{tsv}:bad_object_lat"


def test_bytes_that_are_not_utf8_refuse_only_their_row(export):
    tsv, images = export
    lines = tsv.read_bytes().splitlines()
    lines[3] = lines[3].replace(b"greifensee_0522", b"greifensee_\xff\xfe")
    tsv.write_bytes(b"\n".join(lines) + b"\n")
    found = list(read_export(tsv))
    assert [type(f) for f in found] == [IngestItem, Refused, Refused]
    assert found[1].reason == "line 4: not UTF-8 text"
    assert "missing.jpeg" in found[2].reason


def test_an_image_over_the_size_limit_refuses_its_row_unread(export):
    tsv, images = export
    sizes = [image.stat().st_size for image in images]
    assert sizes[0] != sizes[1]
    limit = min(sizes)
    found = list(read_export(tsv, max_image_bytes=limit))[:2]
    larger = sizes.index(max(sizes))
    assert isinstance(found[larger], Refused) and isinstance(found[1 - larger], IngestItem)
    assert found[larger].reason == f"file too large: more than {limit} bytes"
