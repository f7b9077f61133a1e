"""Catalog rows without uploaded bytes, many per statement: for filling a catalog at scale
(`nauplius bench scale`) or loading a catalog whose images live elsewhere.

A row either has no stored files (its thumbnail and file answer "missing from storage") or
shares the stored files of an image already catalogued (`files_of`): the row's own sha256 path
gets a hard link to that image's file and thumbnail (a copy where links fail), and the row takes
that image's format, width and height. Such a row's bytes are another image's, so its sha256 is
a name, not a hash of them; the rows record `files_of` in their metadata to say so.

Two INSERT ... SELECT FROM unnest statements in one transaction: the images, then the labels of
the labelled ones; the statement-level triggers (current label, migration 008's maintained
counts) run once per statement, as for any other write.
"""
from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Literal

import anyio
import asyncpg
from pydantic import BaseModel, Field, model_validator

from nauplius.core.contracts.catalog import DEFAULT_PROJECT_ID, LabelState
from nauplius.core.contracts.text import JsonObject, Line
from services.catalog.errors import Conflict, ImageNotFound, InvalidMetadata, UnknownTaxon
from services.catalog.storage import ImageStore

MAX_ROWS = 5000  # rows per request: bounds a request's memory and its transaction's locks
BULK_ANNOTATOR = "bulk rows"  # who a label is by when no person is named


class BulkRow(BaseModel):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: Line | None = Field(default=None, max_length=500)
    format: Literal["jpeg", "png", "tiff", "bmp"] = "png"
    width: int = Field(default=1, ge=1)
    height: int = Field(default=1, ge=1)
    instrument: Line | None = Field(default=None, max_length=200)
    sample: Line | None = Field(default=None, max_length=200)
    captured_at: datetime | None = None
    metadata: JsonObject = Field(default_factory=dict)
    project_id: int = Field(default=DEFAULT_PROJECT_ID, ge=1)
    label: Line | None = Field(default=None, max_length=500)
    label_state: LabelState = "unlabelled"
    confidence: float | None = Field(default=None, ge=0, le=1)
    files_of: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _label_matches_state(self) -> BulkRow:
        if (self.label_state == "unlabelled") != (self.label is None):
            raise ValueError("a row has a label exactly when its label_state is not 'unlabelled'")
        return self


class BulkRowsRequest(BaseModel):
    rows: list[BulkRow] = Field(min_length=1, max_length=MAX_ROWS)


INSERT_IMAGES = """
INSERT INTO images (sha256, filename, format, width, height, instrument, sample, captured_at,
                    metadata, project_id, created_by)
SELECT r.sha256, r.filename, r.format, r.width, r.height, r.instrument, r.sample, r.captured_at,
       r.metadata::jsonb, r.project_id, $11
  FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::text[], $7::text[],
              $8::timestamptz[], $9::text[], $10::bigint[])
       AS r (sha256, filename, format, width, height, instrument, sample, captured_at, metadata,
             project_id)
RETURNING id, sha256
"""
INSERT_LABELS = """
INSERT INTO labels (image_id, taxon, annotator, state, confidence, taxon_id, annotator_id)
SELECT l.image_id, l.taxon, COALESCE((SELECT name FROM annotators WHERE id = $5), $6), l.state,
       l.confidence, t.id, $5
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::real[]) AS l (image_id, taxon, state, confidence)
  JOIN taxa t ON t.name = l.taxon
"""
UNKNOWN_TAXA = """
SELECT DISTINCT u.name FROM unnest($1::text[]) AS u (name)
 WHERE NOT EXISTS (SELECT 1 FROM taxa t WHERE t.name = u.name) ORDER BY u.name
"""
MISSING_PROJECTS = """
SELECT DISTINCT u.id FROM unnest($1::bigint[]) AS u (id)
 WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = u.id) ORDER BY u.id
"""
FILE_SOURCES = "SELECT id, sha256, format, width, height FROM images WHERE id = any($1::bigint[])"


def _check_unique(rows: list[BulkRow]) -> None:
    seen: set[str] = set()
    for number, row in enumerate(rows):
        if row.sha256 in seen:
            raise InvalidMetadata(f"rows[{number}]: sha256 {row.sha256} appears twice in the request")
        seen.add(row.sha256)


async def _check_references(conn: asyncpg.Connection, rows: list[BulkRow]) -> None:
    """422 naming the taxa and projects that do not exist."""
    taxa = sorted({row.label for row in rows if row.label is not None})
    unknown = [r["name"] for r in await conn.fetch(UNKNOWN_TAXA, taxa)] if taxa else []
    if unknown:
        raise UnknownTaxon(f"unknown taxa (import them first): {', '.join(unknown[:20])}")
    missing = [r["id"] for r in await conn.fetch(MISSING_PROJECTS, sorted({r.project_id for r in rows}))]
    if missing:
        raise InvalidMetadata(f"no such projects: {', '.join(map(str, missing))}")


async def _file_sources(conn: asyncpg.Connection, rows: list[BulkRow]) -> dict[int, asyncpg.Record]:
    """The images whose stored files rows share, by id; 404 naming any that does not exist."""
    wanted = sorted({row.files_of for row in rows if row.files_of is not None})
    if not wanted:
        return {}
    found = {r["id"]: r for r in await conn.fetch(FILE_SOURCES, wanted)}
    if absent := [i for i in wanted if i not in found]:
        raise ImageNotFound(f"files_of names images that do not exist: {absent[:20]}")
    return found


def _with_sources(rows: list[BulkRow], sources: dict[int, asyncpg.Record]) -> list[BulkRow]:
    """Rows that share files take their source's format and size, and say whose bytes they show."""
    shaped = []
    for row in rows:
        if row.files_of is not None:
            source = sources[row.files_of]
            row = row.model_copy(update={
                "format": source["format"], "width": source["width"], "height": source["height"],
                "metadata": {**row.metadata, "files_of": row.files_of}})
        shaped.append(row)
    return shaped


def link_files(store: ImageStore, rows: list[BulkRow], sources: dict[int, asyncpg.Record]) -> None:
    """Hard-link each sharing row's paths to its source's files. Blocking: run in a thread."""
    for row in rows:
        if row.files_of is None:
            continue
        source = sources[row.files_of]
        _link(store.image_path(source["sha256"], source["format"]),
              store.image_path(row.sha256, source["format"]))
        _link(store.thumbnail_path(source["sha256"]), store.thumbnail_path(row.sha256))


def _link(source: Path, target: Path) -> None:
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except FileExistsError:
        pass  # a concurrent request linked it: same source, same file
    except OSError:
        shutil.copyfile(source, target)  # a file system without hard links


async def insert_rows(conn: asyncpg.Connection, rows: list[BulkRow], store: ImageStore,
                      annotator_id: int | None) -> list[int]:
    """Insert the rows and their labels in one transaction; the new ids in row order."""
    _check_unique(rows)
    async with conn.transaction():
        await _check_references(conn, rows)
        sources = await _file_sources(conn, rows)
        rows = _with_sources(rows, sources)
        try:
            inserted = await conn.fetch(
                INSERT_IMAGES, [r.sha256 for r in rows], [r.filename for r in rows],
                [r.format for r in rows], [r.width for r in rows], [r.height for r in rows],
                [r.instrument for r in rows], [r.sample for r in rows],
                [r.captured_at for r in rows], [json.dumps(r.metadata) for r in rows],
                [r.project_id for r in rows], annotator_id)
        except asyncpg.UniqueViolationError as error:
            raise Conflict(f"a row's sha256 is already catalogued ({error.detail})") from error
        ids_by_sha = {r["sha256"]: r["id"] for r in inserted}
        ids = [ids_by_sha[r.sha256] for r in rows]
        labelled = [(image_id, r) for image_id, r in zip(ids, rows, strict=True) if r.label]
        if labelled:
            await conn.execute(
                INSERT_LABELS, [i for i, _ in labelled], [r.label for _, r in labelled],
                [r.label_state for _, r in labelled], [r.confidence for _, r in labelled],
                annotator_id, BULK_ANNOTATOR)
        if sources:
            await anyio.to_thread.run_sync(link_files, store, rows, sources)
    return ids
