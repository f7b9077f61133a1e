"""The IFCB decoder against the reference PNGs (pixel for pixel), the broken bins, and bins
whose ADC rows are hostile: each bad row is one refused ROI, the others go in."""
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from nauplius.formats.discover import read_paths
from nauplius.formats.ifcb import IfcbBinError, bin_items, read_bin, stretch_contrast
from nauplius.formats.items import IngestItem, Refused

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


def _bin_copy(shared_data, folder, adc_rows=None, roi=None):
    """The new-format bin copied into folder, with its ADC rows or .roi bytes replaced."""
    source = shared_data / "ifcb" / "bins" / NEW_BIN
    (folder / f"{NEW_BIN}.hdr").write_bytes(source.with_suffix(".hdr").read_bytes())
    rows = source.with_suffix(".adc").read_text().splitlines()
    (folder / f"{NEW_BIN}.adc").write_text("\n".join(adc_rows(rows) if adc_rows else rows))
    data = source.with_suffix(".roi").read_bytes()
    (folder / f"{NEW_BIN}.roi").write_bytes(roi(data) if roi else data)
    return folder / NEW_BIN


def _set(row: str, column: int, value: str) -> str:
    cells = row.split(",")
    cells[column] = value
    return ",".join(cells)


WIDTH, HEIGHT, START = 15, 16, 17  # ADC columns of the new-format bin (0-based)


def test_a_truncated_roi_file_refuses_the_rois_past_its_end(shared_data, tmp_path):
    stem = _bin_copy(shared_data, tmp_path, roi=lambda data: data[: len(data) // 2])
    ifcb_bin = read_bin(stem)
    assert [roi.number for roi in ifcb_bin.rois] == [2, 3, 4, 5]  # those within the half kept
    assert [r.source for r in ifcb_bin.refused] == [f"{NEW_BIN}#{n}" for n in (6, 7, 8)]
    assert all("needs .roi bytes" in r.reason for r in ifcb_bin.refused)


def test_non_finite_negative_or_garbled_adc_sizes_refuse_only_their_rois(shared_data, tmp_path):
    # Rows 3..6 hold triggers 3..6: NaN and infinite sizes once answered a 500 (ValueError).
    bad = {3: (WIDTH, "nan"), 4: (HEIGHT, "inf"), 5: (START, "-1"), 6: (WIDTH, "wide")}

    def garble(rows):
        return [_set(row, *bad[n]) if n in bad else row for n, row in enumerate(rows, start=1)]

    stem = _bin_copy(shared_data, tmp_path, adc_rows=garble)
    found = list(read_paths([tmp_path]))
    items = [f for f in found if isinstance(f, IngestItem)]
    refused = {f.source: f.reason for f in found if isinstance(f, Refused)}
    assert [item.metadata["roi_number"] for item in items] == [2, 7, 8]
    assert refused == {
        f"{NEW_BIN}#3": "ADC row 3: RoiWidth is not a count: 'nan'",
        f"{NEW_BIN}#4": "ADC row 4: RoiHeight is not a count: 'inf'",
        f"{NEW_BIN}#5": "ADC row 5: StartByte is not a count: '-1'",
        f"{NEW_BIN}#6": "ADC row 6: RoiWidth is not a number: 'wide'",
    }
    assert read_bin(stem).rois[1].image.tobytes() == (
        (shared_data / "ifcb" / "bins" / f"{NEW_BIN}.roi").read_bytes()[65712:65712 + 144 * 106])


def test_overlapping_roi_ranges_copy_each_roi_byte_at_most_once(shared_data, tmp_path):
    # 500 rows all naming the whole .roi file: read as they stood, they cost 500 copies of it.
    roi_size = (shared_data / "ifcb" / "bins" / f"{NEW_BIN}.roi").stat().st_size
    height = roi_size // 160

    def overlapping(rows):
        whole = _set(_set(_set(rows[1], WIDTH, "160"), HEIGHT, str(height)), START, "0")
        return [_set(whole, 0, str(n)) for n in range(1, 501)]

    ifcb_bin = read_bin(_bin_copy(shared_data, tmp_path, adc_rows=overlapping))
    assert [roi.number for roi in ifcb_bin.rois] == [1]
    assert sum(roi.image.nbytes for roi in ifcb_bin.rois) <= roi_size
    assert len(ifcb_bin.refused) == 499
    assert "overlap those of an earlier ROI" in ifcb_bin.refused[0].reason


def test_a_bad_header_refuses_the_bin_and_the_rest_goes_in(shared_data, tmp_path):
    stem = _bin_copy(shared_data, tmp_path)
    header = stem.with_suffix(".hdr")
    header.write_text(header.read_text().replace("RoiWidth", "Breadth"))
    image = sorted((shared_data / "zoolake" / "daphnia").iterdir())[0]
    (tmp_path / image.name).write_bytes(image.read_bytes())
    found = list(read_paths([tmp_path]))
    assert [type(f) for f in found] == [Refused, IngestItem]
    assert "ADCFileFormat lacks roiwidth" in found[0].reason
