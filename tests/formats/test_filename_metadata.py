from datetime import UTC, datetime

from nauplius.formats.filename_metadata import FilenameMetadata, parse_filename


def test_scripps_plankton_camera_names_carry_time_and_roi_geometry(shared_data):
    name = next(p.name for p in sorted((shared_data / "zoolake" / "daphnia").iterdir()))
    found = parse_filename(name)
    fields = name.rsplit(".", 1)[0].split("-")
    micros = int(fields[3])
    assert found.instrument == "SPC-EAWAG-0P5X"
    assert found.captured_at == datetime.fromtimestamp(micros // 10**6, UTC).replace(
        microsecond=micros % 10**6)
    assert [found.metadata[k] for k in ("roi_x", "roi_y", "roi_width", "roi_height")] == [
        int(v) for v in fields[-4:]]


def test_ifcb_roi_image_names(shared_data):
    name = sorted((shared_data / "ifcb" / "labelled" / "Mesodinium_major").iterdir())[0].name
    found = parse_filename(name)  # D20230312T003037_IFCB134_00130.png
    assert (found.instrument, found.sample) == ("IFCB134", "D20230312T003037_IFCB134")
    assert found.captured_at == datetime(2023, 3, 12, 0, 30, 37, tzinfo=UTC)
    assert found.metadata["roi_number"] == 130


def test_other_names_carry_nothing(shared_data):
    name = sorted((shared_data / "ndsb").glob("*/*.jpg"))[0].name
    assert parse_filename(name) == FilenameMetadata()
    assert parse_filename("D99999999T000000_IFCB1_00001.png") == FilenameMetadata()
