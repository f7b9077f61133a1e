"""Export the catalog's labels as CSV, an EcoTaxa-compatible TSV or a Darwin Core Archive."""

import csv
import io
import zipfile
from typing import Any

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


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([spreadsheet_safe(v) for v in (
            r["id"], r["sha256"], r["filename"], r["project"], r["instrument"], r["sample"],
            r["captured_at"], r["taxon"], r["rank"], r["aphia_id"], r["state"], r["confidence"],
            r["annotator"], r["institution"], r["labelled_at"])])
    return out.getvalue()


def _date_time(stamp: str | None) -> tuple[str, str]:
    """ISO 8601 -> EcoTaxa's YYYYMMDD and HHMMSS."""
    if not stamp:
        return "", ""
    date, _, time = stamp.partition("T")
    return date.replace("-", ""), time[:8].replace(":", "")


def to_ecotaxa_tsv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow([name for name, _ in ECOTAXA_COLUMNS])
    writer.writerow([kind for _, kind in ECOTAXA_COLUMNS])
    for r in rows:
        object_date, object_time = _date_time(r["captured_at"])
        label_date, label_time = _date_time(r["labelled_at"])
        writer.writerow([_text(v) for v in (
            r["filename"] or f"{r['sha256']}.{r['format']}", f"nauplius_{r['id']}",
            object_date, object_time, r["taxon"], ECOTAXA_STATUS[r["state"]],
            r["annotator"], label_date, label_time, r["width"], r["height"], r["sample"],
            r["instrument"])])
    return out.getvalue()


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


def to_dwca(rows: list[dict[str, Any]], base_url: str) -> bytes:
    lines = ["\t".join(name for name, _ in DWC_TERMS)]
    for r in rows:
        aphia = r["aphia_id"]
        values = [
            f"nauplius:{r['sha256']}", "MachineObservation", r["taxon"],
            f"urn:lsid:marinespecies.org:taxname:{aphia}" if aphia else "", r["rank"],
            DWC_STATUS[r["state"] or "unlabelled"], r["annotator"], r["labelled_at"], r["captured_at"],
            r["sample"], f"{base_url}api/v1/images/{r['id']}/file",
            f"instrument {r['instrument']}" if r["instrument"] else "",
        ]
        lines.append("\t".join(_clean(v) for v in values))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("occurrence.txt", "\n".join(lines) + "\n")
        archive.writestr("meta.xml", meta_xml())
    return buffer.getvalue()
