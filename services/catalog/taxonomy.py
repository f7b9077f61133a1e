"""The taxonomy tree: taxa with a rank, a parent and an optional WoRMS AphiaID.

Labels name taxa by their (unique) name. While the tree is empty, labels are free text (a
workstation that has not set up a taxonomy keeps working); once it holds a taxon, every new label
must name one, except that an admin's upload may add the taxa its labels name (see
`resolve_taxon`).
"""

import csv
import io
from dataclasses import dataclass

import asyncpg

from nauplius.core.contracts.catalog import TaxonPublic
from nauplius.core.contracts.text import line_problem
from services.catalog import queries
from services.catalog.errors import InvalidMetadata, TaxonConflict, TaxonNotFound, UnknownTaxon

CSV_COLUMNS = ("name", "rank", "parent", "aphia_id")
MAX_NAME = 500


@dataclass(frozen=True, slots=True)
class TaxonFields:
    """What a person sets on a taxon; `parent` is the parent's name."""

    name: str
    rank: str | None = None
    parent: str | None = None
    aphia_id: int | None = None


def _taxon(record: asyncpg.Record) -> TaxonPublic:
    return TaxonPublic.model_validate(dict(record))


async def list_taxa(conn: asyncpg.Connection) -> list[TaxonPublic]:
    return [_taxon(r) for r in await conn.fetch(queries.SELECT_TAXA)]


async def get_taxon(conn: asyncpg.Connection, taxon_id: int) -> TaxonPublic:
    record = await conn.fetchrow(queries.SELECT_TAXON, taxon_id)
    if record is None:
        raise TaxonNotFound(f"taxon {taxon_id} not found")
    return _taxon(record)


async def find_taxon(conn: asyncpg.Connection, name: str) -> TaxonPublic | None:
    record = await conn.fetchrow(queries.SELECT_TAXON_BY_NAME, name)
    return None if record is None else _taxon(record)


async def _parent_id(conn: asyncpg.Connection, parent: str | None) -> int | None:
    if parent is None:
        return None
    found = await find_taxon(conn, parent)
    if found is None:
        raise UnknownTaxon(f"unknown parent taxon {parent!r}")
    return found.id


async def _check_unique(conn: asyncpg.Connection, fields: TaxonFields, taxon_id: int | None) -> None:
    same_name = await find_taxon(conn, fields.name)
    if same_name is not None and same_name.id != taxon_id:
        raise TaxonConflict(f"a taxon named {fields.name!r} exists already (id {same_name.id})")
    if fields.aphia_id is not None:
        other = await conn.fetchval(queries.TAXON_WITH_APHIA_ID, fields.aphia_id, taxon_id)
        if other is not None:
            raise TaxonConflict(f"AphiaID {fields.aphia_id} is already taxon {other!r}")


async def create_taxon(conn: asyncpg.Connection, fields: TaxonFields, actor: int | None) -> TaxonPublic:
    async with conn.transaction():
        await _check_unique(conn, fields, None)
        parent_id = await _parent_id(conn, fields.parent)
        record = await conn.fetchrow(
            queries.INSERT_TAXON, fields.name, fields.rank, parent_id, fields.aphia_id, actor
        )
        await conn.execute(queries.LINK_LABELS, record["id"], fields.name)
    return _taxon(record)


async def update_taxon(
    conn: asyncpg.Connection, taxon_id: int, fields: TaxonFields, actor: int | None
) -> tuple[TaxonPublic, list[int]]:
    """(the taxon, ids of the images whose current label was renamed with it)."""
    async with conn.transaction():
        before = await get_taxon(conn, taxon_id)
        await _check_unique(conn, fields, taxon_id)
        parent_id = await _parent_id(conn, fields.parent)
        if parent_id is not None and await conn.fetchval(
            queries.IS_SELF_OR_DESCENDANT, taxon_id, parent_id
        ):
            raise InvalidMetadata(
                f"{fields.parent!r} is {fields.name!r} or below it: a taxon cannot be its own ancestor"
            )
        record = await conn.fetchrow(
            queries.UPDATE_TAXON, taxon_id, fields.name, fields.rank, parent_id, fields.aphia_id, actor
        )
        renamed: list[int] = []
        if before.name != fields.name:
            await conn.execute(queries.RENAME_IN_LABELS, taxon_id, fields.name)
            renamed = [r["id"] for r in await conn.fetch(queries.RENAME_IN_IMAGES, fields.name, before.name)]
    return _taxon(record), renamed


async def delete_taxon(conn: asyncpg.Connection, taxon_id: int) -> None:
    async with conn.transaction():
        taxon = await get_taxon(conn, taxon_id)
        if await conn.fetchval(queries.TAXON_IN_USE, taxon_id):
            raise TaxonConflict(f"taxon {taxon.name!r} has labels or child taxa; it cannot be deleted")
        await conn.execute(queries.DELETE_TAXON, taxon_id)


async def resolve_taxon(
    conn: asyncpg.Connection, name: str, *, create: bool = False, actor: int | None = None
) -> int | None:
    """The id of the taxon a new label names; None for a free-text label while the tree is empty.

    `create` (an admin's upload) adds an unknown name as a new root taxon.
    """
    found = await find_taxon(conn, name)
    if found is not None:
        return found.id
    if create:
        # Concurrent uploads may add the same name: the loser waits and then reads the winner's.
        created: int | None = await conn.fetchval(queries.CREATE_ROOT_TAXON, name, actor)
        if created is None:
            winner = await find_taxon(conn, name)
            assert winner is not None  # the concurrent upload's taxon, committed before ours
            return winner.id
        await conn.execute(queries.LINK_LABELS, created, name)
        return created
    if not await conn.fetchval(queries.TAXA_EXIST):
        return None
    raise UnknownTaxon(f"unknown taxon {name!r}: add it to the taxonomy first")


def _cell(row: dict[str, str | None], key: str) -> str | None:
    value = (row.get(key) or "").strip()
    return value or None


def parse_taxa_csv(text: str) -> list[TaxonFields]:
    """Rows of a `name,rank,parent,aphia_id` CSV (header required); every problem named by line."""
    reader = csv.DictReader(io.StringIO(text, newline=""))  # newline="": as the csv module asks
    try:
        return _taxa_rows(reader)
    except csv.Error as exc:  # a quote left open, a cell over the csv module's limit
        raise InvalidMetadata(f"the CSV cannot be read at line {reader.line_num}: {exc}") from None


def _taxa_rows(reader: "csv.DictReader[str]") -> list[TaxonFields]:
    if reader.fieldnames is None or "name" not in reader.fieldnames:
        raise InvalidMetadata(f"the CSV needs a header line with the columns {', '.join(CSV_COLUMNS)}")
    unknown = set(reader.fieldnames) - set(CSV_COLUMNS)
    if unknown:
        raise InvalidMetadata(f"unknown CSV columns: {', '.join(sorted(unknown))}")
    rows, problems, seen = [], [], set()
    for line, row in enumerate(reader, start=2):
        name = _cell(row, "name")
        if name is None:
            problems.append(f"line {line}: no name")
            continue
        if len(name) > MAX_NAME:
            problems.append(f"line {line}: name is not a plain name of at most {MAX_NAME} characters")
            continue
        unclean = [f"line {line}: {column} {problem}" for column in ("name", "rank", "parent")
                   if (problem := line_problem(row.get(column) or ""))]
        if unclean:
            problems += unclean
            continue
        if name in seen:
            problems.append(f"line {line}: {name!r} appears twice")
            continue
        seen.add(name)
        aphia = _cell(row, "aphia_id")
        if aphia is not None and not (aphia.isdigit() and int(aphia) > 0):
            problems.append(f"line {line}: aphia_id {aphia!r} is not a positive integer")
            continue
        rows.append(TaxonFields(name, _cell(row, "rank"), _cell(row, "parent"),
                                None if aphia is None else int(aphia)))
    if problems:
        raise InvalidMetadata("; ".join(problems[:20]))
    return rows


async def import_taxa(conn: asyncpg.Connection, rows: list[TaxonFields], actor: int | None) -> dict[str, int]:
    """Add or update taxa by name, in one transaction: all rows or none.

    Parents may be defined later in the file or already be in the tree.
    """
    names = {row.name for row in rows}
    created = updated = 0
    async with conn.transaction():
        for row in rows:
            if (row.parent is not None and row.parent not in names
                    and await find_taxon(conn, row.parent) is None):
                raise UnknownTaxon(f"taxon {row.name!r}: unknown parent taxon {row.parent!r}")
        # Pass 1: every name exists (parents unset for new ones); pass 2: parents and fields.
        for row in rows:
            if await find_taxon(conn, row.name) is None:
                await create_taxon(conn, TaxonFields(row.name, row.rank), actor)
                created += 1
            else:
                updated += 1
        for row in rows:
            taxon = await find_taxon(conn, row.name)
            assert taxon is not None
            await update_taxon(conn, taxon.id, row, actor)
    return {"created": created, "updated": updated}
