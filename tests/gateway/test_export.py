"""The export formats' own rules, on rows as the catalog answers them."""

import io
import zipfile

from gateway.export import to_dwca


def test_an_image_with_no_label_state_is_an_unverified_occurrence():
    """Unlabelled images have no state at all (the fuzzing found a 500 here)."""
    row = {"id": 7, "sha256": "ab" * 32, "taxon": None, "aphia_id": None, "rank": None,
           "state": None, "annotator": None, "labelled_at": None, "captured_at": None,
           "sample": None, "instrument": None}
    archive = zipfile.ZipFile(io.BytesIO(to_dwca([row], "http://nauplius/")))
    header, occurrence = archive.read("occurrence.txt").decode().splitlines()
    record = dict(zip(header.split("\t"), occurrence.split("\t"), strict=True))
    assert record["identificationVerificationStatus"] == "unverified"
    assert record["occurrenceID"] == f"nauplius:{'ab' * 32}"
