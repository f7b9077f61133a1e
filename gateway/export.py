"""Export the catalog's labels as CSV, an EcoTaxa-compatible TSV or a Darwin Core Archive,
written page by page as the rows come (`stream`), so an export of any size holds one page."""

import csv
import io
import zipfile
from collections.abc import AsyncIterator
from typing import Any, Protocol

CSV_COLUMNS = [
    "image_id", "sha256", "filename", "project", "instrument", "sample", "captured_at",
    "taxon", "rank", "aphia_id", "state", "confidence", "annotator", "institution", "labelled_at",
]
# EcoTaxa's import columns; the second line of an EcoTaxa TSV gives each column's type.
ECOTAXA_COLUMNS = [
    ("img_file_name", "[t]"), ("object_id", "[t]"), ("object_date", "[t]"), ("object_time", "[t]"),
    ("object_annotation_category", "[t]"), ("object_annotation_status", "[t]"),
    ("object_annotation_person_name", "[t]"), ("object_annotation_date", "[t]"),
    ("object_annotation_time", "[t]"), ("object_width", "[f]"), ("object_height", "[f]"),
    ("sample_id", "[t]"), ("acq_instrument", "[t]"),
]
ECOTAXA_STATUS = {"validated": "validated", "dubious": "dubious", "predicted": "predicted",
                  "unlabelled": ""}
DWC_TERMS = [
    ("occurrenceID", "http://rs.tdwg.org/dwc/terms/occurrenceID"),
    ("basisOfRecord", "http://rs.tdwg.org/dwc/terms/basisOfRecord"),
    ("scientificName", "http://rs.tdwg.org/dwc/terms/scientificName"),
    ("scientificNameID", "http://rs.tdwg.org/dwc/terms/scientificNameID"),
    ("taxonRank", "http://rs.tdwg.org/dwc/terms/taxonRank"),
    ("identificationVerificationStatus", "http://rs.tdwg.org/dwc/terms/identificationVerificationStatus"),
    ("identifiedBy", "http://rs.tdwg.org/dwc/terms/identifiedBy"),
    ("dateIdentified", "http://rs.tdwg.org/dwc/terms/dateIdentified"),
    ("eventDate", "http://rs.tdwg.org/dwc/terms/eventDate"),
    ("eventID", "http://rs.tdwg.org/dwc/terms/eventID"),
    ("associatedMedia", "http://rs.tdwg.org/dwc/terms/associatedMedia"),
    ("occurrenceRemarks", "http://rs.tdwg.org/dwc/terms/occurrenceRemarks"),
]
DWC_STATUS = {"validated": "verified by expert", "dubious": "questionable",
              "predicted": "unverified (machine suggestion)", "unlabelled": "unverified"}


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...) calls out).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def spreadsheet_safe(value: Any) -> str:
    """A cell a spreadsheet shows as text, never runs: text that would start a formula gets a
    leading `'` (OWASP's CSV injection guidance). Numbers are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return _text(value)


class Writer(Protocol):
    """One export format, written as the rows come: a start, each page of rows, an end."""

    def start(self) -> bytes: ...
    def rows(self, rows: list[dict[str, Any]]) -> bytes: ...
    def end(self) -> bytes: ...


def _table(rows: list[list[str]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


class CsvWriter:
    def start(self) -> bytes:
        return _table([CSV_COLUMNS])

    def rows(self, rows: list[dict[str, Any]]) -> bytes:
        return _table([[spreadsheet_safe(v) for v in (
            r["id"], r["sha256"], r["filename"], r["project"], r["instrument"], r["sample"],
            r["captured_at"], r["taxon"], r["rank"], r["aphia_id"], r["state"], r["confidence"],
            r["annotator"], r["institution"], r["labelled_at"])] for r in rows])

    def end(self) -> bytes:
        return b""


def _date_time(stamp: str | None) -> tuple[str, str]:
    """ISO 8601 -> EcoTaxa's YYYYMMDD and HHMMSS."""
    if not stamp:
        return "", ""
    date, _, time = stamp.partition("T")
    return date.replace("-", ""), time[:8].replace(":", "")


class EcotaxaWriter:
    def start(self) -> bytes:
        return _table([[name for name, _ in ECOTAXA_COLUMNS], [kind for _, kind in ECOTAXA_COLUMNS]],
                      "\t")

    def rows(self, rows: list[dict[str, Any]]) -> bytes:
        return _table([self._row(r) for r in rows], "\t")

    @staticmethod
    def _row(r: dict[str, Any]) -> list[str]:
        object_date, object_time = _date_time(r["captured_at"])
        label_date, label_time = _date_time(r["labelled_at"])
        return [_text(v) for v in (
            r["filename"] or f"{r['sha256']}.{r['format']}", f"nauplius_{r['id']}",
            object_date, object_time, r["taxon"], ECOTAXA_STATUS[r["state"]],
            r["annotator"], label_date, label_time, r["width"], r["height"], r["sample"],
            r["instrument"])]

    def end(self) -> bytes:
        return b""


def meta_xml() -> str:
    fields = "\n".join(
        f'    <field index="{i}" term="{term}"/>' for i, (_, term) in enumerate(DWC_TERMS)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="">\n'
        '  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n"'
        ' fieldsEnclosedBy="" ignoreHeaderLines="1"'
        ' rowType="http://rs.tdwg.org/dwc/terms/Occurrence">\n'
        "    <files><location>occurrence.txt</location></files>\n"
        '    <id index="0"/>\n'
        f"{fields}\n"
        "  </core>\n"
        "</archive>\n"
    )


def _clean(value: Any) -> str:
    # fieldsEnclosedBy="" : a tab or newline inside a value would break the row.
    return _text(value).replace("\t", " ").replace("\n", " ")


class _Sink:
    """A write-only stream: zipfile, finding no seek, writes each member's sizes after its
    data (data descriptors), so the archive goes out as it is written."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


class DwcaWriter:
    """A Darwin Core Archive (occurrence.txt, meta.xml) streamed as a zip; occurrence.txt is
    zip64, so an export past 4 GiB stays a valid archive."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._sink = _Sink()
        self._archive = zipfile.ZipFile(self._sink, "w", zipfile.ZIP_DEFLATED)
        self._occurrences = self._archive.open("occurrence.txt", "w", force_zip64=True)

    def start(self) -> bytes:
        self._occurrences.write(("\t".join(name for name, _ in DWC_TERMS) + "\n").encode())
        return self._sink.take()

    def rows(self, rows: list[dict[str, Any]]) -> bytes:
        self._occurrences.write("".join(self._line(r) for r in rows).encode())
        return self._sink.take()

    def _line(self, r: dict[str, Any]) -> str:
        aphia = r["aphia_id"]
        values = [
            f"nauplius:{r['sha256']}", "MachineObservation", r["taxon"],
            f"urn:lsid:marinespecies.org:taxname:{aphia}" if aphia else "", r["rank"],
            DWC_STATUS[r["state"] or "unlabelled"], r["annotator"], r["labelled_at"], r["captured_at"],
            r["sample"], f"{self._base_url}api/v1/images/{r['id']}/file",
            f"instrument {r['instrument']}" if r["instrument"] else "",
        ]
        return "\t".join(_clean(v) for v in values) + "\n"

    def end(self) -> bytes:
        self._occurrences.close()
        self._archive.writestr("meta.xml", meta_xml())
        self._archive.close()
        return self._sink.take()


async def stream(writer: Writer, pages: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[bytes]:
    """The export's bytes page by page: at most one page of rows is held at a time."""
    yield writer.start()
    async for rows in pages:
        yield writer.rows(rows)
    yield writer.end()


def write_all(writer: Writer, rows: list[dict[str, Any]]) -> bytes:
    """A whole export of rows in memory (small sets and tests)."""
    return writer.start() + writer.rows(rows) + writer.end()


def to_csv(rows: list[dict[str, Any]]) -> str:
    return write_all(CsvWriter(), rows).decode()


def to_ecotaxa_tsv(rows: list[dict[str, Any]]) -> str:
    return write_all(EcotaxaWriter(), rows).decode()


def to_dwca(rows: list[dict[str, Any]], base_url: str) -> bytes:
    return write_all(DwcaWriter(base_url), rows)
