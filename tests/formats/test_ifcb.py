"""The IFCB decoder against the reference PNGs (pixel for pixel) and the broken bins."""
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from nauplius.formats.ifcb import IfcbBinError, bin_items, read_bin, stretch_contrast

NEW_BIN = "D20220522T000439_IFCB134"
OLD_BIN = "IFCB5_2012_028_081515"


def test_new_format_rois_equal_the_reference_pngs(shared_data):
    # The reference tool (ClassiPyR/iRfcb) writes each ROI min-max stretched; the decoder keeps
    # the raw pixels, so the same stretch must turn every decoded ROI into its PNG exactly. A
    # misread .roi (wrong offset, shape or order) cannot pass this.
    ifcb_bin = read_bin(shared_data / "ifcb" / "bins" / NEW_BIN)
    references = sorted((shared_data / "ifcb" / "reference_png" / NEW_BIN).glob("*.png"))
    assert len(ifcb_bin.rois) == len(references) == 7
    for roi, reference in zip(ifcb_bin.rois, references, strict=True):
        assert reference.name == f"{NEW_BIN}_{roi.number:05d}.png"
        expected = cv2.imread(str(reference), cv2.IMREAD_UNCHANGED)
        assert roi.image.dtype == np.uint8
        np.testing.assert_array_equal(stretch_contrast(roi.image), expected)


def test_items_are_lossless_pngs_with_the_bin_metadata(shared_data):
    items = bin_items(read_bin(shared_data / "ifcb" / "bins" / NEW_BIN))
    first = items[0]
    reference = shared_data / "ifcb" / "reference_png" / NEW_BIN / first.filename
    decoded = cv2.imdecode(np.frombuffer(first.data, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(stretch_contrast(decoded),
                                  cv2.imread(str(reference), cv2.IMREAD_UNCHANGED))
    roi_bytes = (shared_data / "ifcb" / "bins" / f"{NEW_BIN}.roi").read_bytes()
    assert decoded.tobytes() == roi_bytes[:160 * 74]  # raw pixels, unchanged
    assert (first.instrument, first.sample) == ("IFCB134", NEW_BIN)
    assert first.captured_at == datetime(2022, 5, 22, 0, 4, 39, tzinfo=UTC)
    assert first.metadata["roi_number"] == 2
    assert first.metadata["adc"]["RoiWidth"] == "160" and first.metadata["adc"]["RoiHeight"] == "74"


@pytest.mark.parametrize(("name", "count"), [("D20220519T124533_IFCB134", 17),
                                             ("D20130526T095207_IFCB013", 19), (OLD_BIN, 6)])
def test_every_good_bin_reads_its_roi_count(shared_data, name, count):
    ifcb_bin = read_bin(shared_data / "ifcb" / "bins" / name)
    assert len(ifcb_bin.rois) == count
    for roi in ifcb_bin.rois:
        height = roi.adc.get("RoiHeight", roi.adc.get("ROIheight", roi.adc.get("col13")))
        width = roi.adc.get("RoiWidth", roi.adc.get("ROIwidth", roi.adc.get("col12")))
        assert roi.image.shape == (int(height), int(width))


def test_old_format_bin(shared_data):
    ifcb_bin = read_bin(shared_data / "ifcb" / "bins" / OLD_BIN)
    assert ifcb_bin.instrument == "IFCB5"
    assert ifcb_bin.sample_time == datetime(2012, 1, 28, 8, 15, 15, tzinfo=UTC)  # day 028 of 2012
    first = ifcb_bin.rois[0]
    assert (first.number, first.image.shape, first.adc["col14"]) == (1, (45, 96), "1")
    # The .roi file starts with one pad byte; the first ROI starts right after it and the last
    # ends one byte before the file does: an off-by-one read would shift every image.
    roi_bytes = (shared_data / "ifcb" / "bins" / f"{OLD_BIN}.roi").read_bytes()
    assert first.image.tobytes() == roi_bytes[1:1 + 96 * 45]
    last = ifcb_bin.rois[-1]
    assert last.image.tobytes() == roi_bytes[-1 - 197 * 45:-1]


@pytest.mark.parametrize("stem", ["empty/D20150411T205456_IFCB012", "empty/IFCB5_2017_001_033645"])
def test_empty_bins_yield_nothing(shared_data, stem):
    assert read_bin(shared_data / "ifcb" / "bad" / stem).rois == []


@pytest.mark.parametrize(("stem", "reason"), [("invalid/D20130101T101010_IFCB099", "empty"),
                                              ("partial/IFCB5_2012_028_081515", "missing .roi")])
def test_broken_bins_are_refused_by_name(shared_data, stem, reason):
    with pytest.raises(IfcbBinError, match=reason) as error:
        read_bin(shared_data / "ifcb" / "bad" / stem)
    assert stem.split("/")[1] in str(error.value)


def test_a_truncated_roi_file_refuses_the_whole_bin(shared_data, tmp_path):
    for suffix in (".hdr", ".adc"):
        (tmp_path / f"{NEW_BIN}{suffix}").write_bytes(
            (shared_data / "ifcb" / "bins" / f"{NEW_BIN}{suffix}").read_bytes())
    roi = (shared_data / "ifcb" / "bins" / f"{NEW_BIN}.roi").read_bytes()
    (tmp_path / f"{NEW_BIN}.roi").write_bytes(roi[: len(roi) // 2])
    with pytest.raises(IfcbBinError, match=r"needs \.roi bytes"):
        read_bin(tmp_path / NEW_BIN)


def test_a_garbled_adc_row_refuses_the_bin(shared_data, tmp_path):
    for suffix in (".hdr", ".roi"):
        (tmp_path / f"{NEW_BIN}{suffix}").write_bytes(
            (shared_data / "ifcb" / "bins" / f"{NEW_BIN}{suffix}").read_bytes())
    rows = (shared_data / "ifcb" / "bins" / f"{NEW_BIN}.adc").read_text().splitlines()
    cells = rows[3].split(",")
    cells[15] = "wide"  # RoiWidth
    rows[3] = ",".join(cells)
    (tmp_path / f"{NEW_BIN}.adc").write_text("\n".join(rows))
    with pytest.raises(IfcbBinError, match="ADC row 4: RoiWidth is not a number"):
        read_bin(tmp_path / NEW_BIN)
