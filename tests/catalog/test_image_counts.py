"""The maintained counts of migration 008 stay exactly count(*) through inserts, label changes
(one by one, in bulk, and from many connections at once), moves and deletes."""

import asyncio
import hashlib
import itertools

import asyncpg

from nauplius.core.contracts.catalog import LabelState
from services.catalog import queries, repository
from services.catalog.db import init_connection
from services.catalog.domain import ImageDetails, NewImage, NewLabel
from tests.support.catalog import empty_catalog

TAXA = ["daphnia", "bosmina", "keratella"]
# Every combination of exact filters a listing can ask, with the readable-projects scope.
FILTER_SETS = [list(c) for n in range(5) for c in itertools.combinations(
    queries.LIST_FILTER_COLUMNS, n)]


def _new_image(seed: str, instrument: str | None) -> NewImage:
    return NewImage(hashlib.sha256(seed.encode()).hexdigest(), "jpeg", 80, 60,
                    ImageDetails(instrument=instrument))


async def _assert_exact(conn: asyncpg.Connection) -> None:
    """For every filter combination over every value present, the maintained count is count(*)."""
    rows = await conn.fetch("SELECT DISTINCT label, label_state, project_id, instrument FROM images")
    for row, columns in itertools.product(rows, FILTER_SETS):
        values = [row[c] for c in columns]
        if None in values:
            continue  # a listing filters on values, never on NULL
        for projects in (None, [1], [2, 3]):
            args = values + ([] if projects is None else [projects])
            maintained = await conn.fetchval(
                queries.maintained_count_sql(columns, projects is not None), *args)
            _, count_sql, _ = queries.list_images_sql(columns, "newest", False, projects is not None)
            assert maintained == await conn.fetchval(count_sql, *args), (columns, args)


async def test_counts_follow_inserts_label_changes_moves_and_deletes(conn: asyncpg.Connection) -> None:
    await conn.execute("INSERT INTO projects (id, name) VALUES (2, 'two')")
    ids = []
    for n in range(24):
        image = await repository.insert_image(conn, _new_image(str(n), ["SPC", "IFCB", None][n % 3]))
        assert image is not None
        ids.append(image.id)
    await _assert_exact(conn)
    for n, image_id in enumerate(ids[:16]):
        state: LabelState = "predicted" if n % 2 else "validated"
        await repository.append_label(conn, image_id, NewLabel(TAXA[n % 3], state, confidence=0.5))
    await _assert_exact(conn)
    await repository.append_label(conn, ids[0], NewLabel("bosmina", "dubious"))  # a relabel
    await repository.append_label(conn, ids[1], NewLabel(None, "unlabelled"))  # back to nothing
    await conn.execute("UPDATE images SET project_id = 2 WHERE id = any($1)", ids[::4])  # a move
    await conn.execute("UPDATE images SET indexed_model = 'm' WHERE id = any($1)", ids)  # no count
    await _assert_exact(conn)
    await conn.execute("DELETE FROM images WHERE id = any($1)", ids[::5])
    await _assert_exact(conn)
    total = await conn.fetchval(queries.maintained_count_sql([]))
    assert total == len(ids) - len(ids[::5])


async def test_counts_stay_exact_under_concurrent_label_changes(catalog_database_url: str) -> None:
    """Eight connections relabel the same images at once, one by one and in bulk: increments under
    the count rows' locks lose nothing (a read-modify-write would)."""
    await empty_catalog(catalog_database_url)
    pool = await asyncpg.create_pool(catalog_database_url, min_size=8, max_size=8,
                                     init=init_connection)
    try:
        async with pool.acquire() as conn:
            ids = []
            for n in range(40):
                image = await repository.insert_image(conn, _new_image(f"c{n}", "SPC"))
                assert image is not None
                ids.append(image.id)

        async def relabel(worker: int) -> None:
            async with pool.acquire() as conn:
                for round_ in range(6):
                    taxon = TAXA[(worker + round_) % 3]
                    if round_ % 2:  # one statement for many images, as a batch label is
                        await conn.execute(
                            "INSERT INTO labels (image_id, taxon, state)"
                            " SELECT unnest($1::bigint[]), $2, 'validated'", ids[worker::3], taxon)
                    else:
                        for image_id in ids[worker % 4::4]:
                            await repository.append_label(conn, image_id, NewLabel(taxon, "predicted"))

        await asyncio.gather(*(relabel(w) for w in range(8)))
        async with pool.acquire() as conn:
            await _assert_exact(conn)
            assert await conn.fetchval(queries.maintained_count_sql([])) == len(ids)
    finally:
        await pool.close()
        await empty_catalog(catalog_database_url)
