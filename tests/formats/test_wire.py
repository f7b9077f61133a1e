"""An item the catalog would refuse is refused on its own before it travels, never its batch."""
from nauplius.formats.items import IngestItem, Refused
from nauplius.formats.wire import split_found


def test_an_entry_the_catalog_would_refuse_is_one_refused_item(shared_data):
    data = sorted((shared_data / "zoolake" / "daphnia").iterdir())[0].read_bytes()
    found = [IngestItem(data, "good.jpeg", "drop/good.jpeg"),
             IngestItem(data, "nan.jpeg", "drop/nan.jpeg", metadata={"depth": float("nan")}),
             IngestItem(data, "nul\x00.jpeg", "drop/nul\x00.jpeg"),
             Refused("bin\x00#3", "ADC row 3: RoiWidth is not a count: 'nan'")]
    parts, entries, refused = split_found(found)
    assert [part.filename for part in parts] == [e["filename"] for e in entries] == ["good.jpeg"]
    assert refused[0] == {"source": "drop/nan.jpeg",
                          "reason": "metadata: holds a number JSON cannot represent (NaN or infinity)"}
    assert refused[1]["source"] == "drop/nul\\x00.jpeg"
    assert refused[1]["reason"].startswith("filename: contains a NUL character")
    assert refused[2]["source"] == "bin\\x00#3"  # written out, never sent as a NUL
