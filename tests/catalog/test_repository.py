"""Repository functions against real PostgreSQL, each test rolled back (except the race)."""

import asyncio
import hashlib
from datetime import UTC, datetime

import asyncpg
import pytest

from services.catalog import repository
from services.catalog.db import init_connection
from services.catalog.domain import ImageDetails, NewImage, NewLabel
from services.catalog.errors import ImageNotFound


def _new_image(seed: str, **details) -> NewImage:
    sha256 = hashlib.sha256(seed.encode()).hexdigest()
    return NewImage(sha256, "jpeg", 80, 60, ImageDetails(**details))


async def test_insert_then_read_back(conn):
    captured = datetime(2019, 10, 8, 13, 22, 52, 901157, tzinfo=UTC)
    new = _new_image(
        "a",
        filename="x.jpeg",
        instrument="SPC",
        sample="greifensee",
        captured_at=captured,
        metadata={"roi": [1224, 2176], "depth_m": 3.5},
    )
    image = await repository.insert_image(conn, new)
    assert image is not None
    assert (image.sha256, image.width, image.height, image.captured_at) == (
        new.sha256,
        80,
        60,
        captured,
    )
    assert image.metadata == {"roi": [1224, 2176], "depth_m": 3.5}
    assert (image.label, image.label_state, image.indexed_at) == (None, "unlabelled", None)
    assert await repository.get_image(conn, image.id) == image
    assert await repository.get_image_by_sha256(conn, new.sha256) == image


async def test_same_sha256_is_not_inserted_twice(conn):
    first = await repository.insert_image(conn, _new_image("a"))
    assert await repository.insert_image(conn, _new_image("a", filename="other")) is None
    assert await conn.fetchval("SELECT count(*) FROM images") == 1
    assert (await repository.get_image_by_sha256(conn, first.sha256)).filename is None


async def test_unknown_ids_raise(conn):
    with pytest.raises(ImageNotFound):
        await repository.get_image(conn, 424242)
    with pytest.raises(ImageNotFound):
        await repository.append_label(conn, 424242, NewLabel("daphnia"))
    with pytest.raises(ImageNotFound):
        await repository.label_history(conn, 424242)
    with pytest.raises(ImageNotFound):
        await repository.mark_indexed(conn, 424242, "efficientnet-lite0")
    assert await repository.find_image_by_sha256(conn, "0" * 64) is None


async def test_label_history_is_appended_and_latest_is_current(conn):
    image = await repository.insert_image(conn, _new_image("a"))
    await repository.append_label(conn, image.id, NewLabel("daphnia", "predicted", "cnn", 0.61))
    await repository.append_label(conn, image.id, NewLabel("bosmina", "validated", "ana"))
    history = await repository.label_history(conn, image.id)
    assert [(entry.taxon, entry.state, entry.annotator) for entry in history] == [
        ("daphnia", "predicted", "cnn"),
        ("bosmina", "validated", "ana"),
    ]
    assert history[0].confidence == pytest.approx(0.61)
    current = await repository.get_image(conn, image.id)
    assert (current.label, current.label_state) == ("bosmina", "validated")
    view = await conn.fetchrow(
        "SELECT label_id, taxon, state FROM current_labels WHERE image_id = $1", image.id
    )
    assert tuple(view) == (history[-1].id, "bosmina", "validated")


async def test_label_rules_are_enforced_by_the_database(conn):
    image = await repository.insert_image(conn, _new_image("a"))
    with pytest.raises(asyncpg.CheckViolationError):
        await repository.append_label(conn, image.id, NewLabel("daphnia", "certain"))
    with pytest.raises(asyncpg.CheckViolationError):
        await repository.append_label(conn, image.id, NewLabel(None, "validated"))
    await repository.append_label(conn, image.id, NewLabel("daphnia"))
    await repository.append_label(conn, image.id, NewLabel(None, "unlabelled"))
    cleared = await repository.get_image(conn, image.id)
    assert (cleared.label, cleared.label_state) == (None, "unlabelled")


async def test_lookup_keeps_the_order_asked(conn):
    ids = [(await repository.insert_image(conn, _new_image(str(i)))).id for i in range(4)]
    asked = [ids[2], ids[0], 999_999, ids[3], ids[0]]
    found = await repository.lookup_images(conn, asked)
    assert [i.id for i in found] == [ids[2], ids[0], ids[3], ids[0]]
    assert await repository.lookup_images(conn, []) == []


async def test_list_pages_newest_first_and_filters_on_current_label(conn):
    ids = [(await repository.insert_image(conn, _new_image(str(i)))).id for i in range(5)]
    await repository.append_label(conn, ids[0], NewLabel("daphnia"))
    await repository.append_label(conn, ids[1], NewLabel("daphnia", "predicted"))
    await repository.append_label(conn, ids[2], NewLabel("daphnia"))
    await repository.append_label(conn, ids[2], NewLabel("bosmina"))  # no longer daphnia

    pages = [await repository.list_images(conn, 2, offset) for offset in (0, 2, 4)]
    assert [i.id for page in pages for i in page.images] == ids[::-1]
    assert {page.total for page in pages} == {5}

    daphnia, count, _ = await repository.list_images(conn, 50, 0, label="daphnia")
    assert ([i.id for i in daphnia], count) == ([ids[1], ids[0]], 2)
    validated, count, _ = await repository.list_images(conn, 50, 0, label="daphnia", state="validated")
    assert ([i.id for i in validated], count) == ([ids[0]], 1)
    unlabelled, count, _ = await repository.list_images(conn, 1, 0, state="unlabelled")
    assert ([i.id for i in unlabelled], count) == ([ids[4]], 2)


async def test_mark_indexed(conn):
    image = await repository.insert_image(conn, _new_image("a"))
    indexed = await repository.mark_indexed(conn, image.id, "efficientnet-lite0")
    assert indexed.indexed_model == "efficientnet-lite0"
    assert indexed.indexed_at is not None and indexed.indexed_at >= image.created_at


async def test_concurrent_insert_of_same_sha256_waits_then_yields(catalog_database_url):
    first, second = (
        await asyncpg.connect(catalog_database_url),
        await asyncpg.connect(catalog_database_url),
    )
    new = _new_image("race")
    try:
        for connection in (first, second):
            await init_connection(connection)
        transaction = first.transaction()
        await transaction.start()
        winner = await repository.insert_image(first, new)
        loser = asyncio.create_task(repository.insert_image(second, new))
        await asyncio.sleep(0.2)
        assert not loser.done()  # blocked on the unique index until the first commits
        await transaction.commit()
        assert await asyncio.wait_for(loser, 5) is None
        assert (
            await second.fetchval("SELECT count(*) FROM images WHERE sha256 = $1", new.sha256) == 1
        )
        assert (await repository.get_image_by_sha256(second, new.sha256)).id == winner.id
    finally:
        await first.execute("DELETE FROM images WHERE sha256 = $1", new.sha256)
        await first.close()
        await second.close()


async def test_bulk_label_insert_makes_the_highest_id_current(conn):
    images = [await repository.insert_image(conn, _new_image(str(i))) for i in range(2)]
    a, b = images[0].id, images[1].id
    await conn.execute(
        "INSERT INTO labels (image_id, taxon, state) VALUES"
        " ($1, 'daphnia', 'predicted'), ($2, 'keratella', 'validated'), ($1, 'bosmina', 'dubious')",
        a,
        b,
    )
    current = {i.id: (i.label, i.label_state) for i in await repository.lookup_images(conn, [a, b])}
    assert current == {a: ("bosmina", "dubious"), b: ("keratella", "validated")}
