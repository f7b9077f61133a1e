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
