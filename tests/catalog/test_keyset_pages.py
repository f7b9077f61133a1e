"""Keyset pages of the image listing (GET /v1/images?cursor=): every image once, in the order the
offset listing gives, stable while images arrive, a checked cursor, and an index that delivers the
order (so a page deep in a million rows reads no more rows than the first)."""

import base64
import hashlib
import json
from typing import Any

import asyncpg
import pytest

from services.catalog import keyset, queries, repository
from services.catalog.domain import ImageDetails, NewImage, NewLabel
from services.catalog.errors import InvalidMetadata
from tests.support.catalog import Catalog

# (taxon, state, confidence) per image: NULL labels and confidences, and ties, in every order.
LABELS: list[tuple[Any, Any, float | None]] = [
    (None, None, None), ("daphnia", "predicted", 0.9), ("daphnia", "predicted", 0.5),
    ("bosmina", "predicted", 0.5), ("daphnia", "predicted", None), ("daphnia", "validated", None),
    (None, None, None), ("bosmina", "predicted", 0.99), ("daphnia", "predicted", 0.5),
    ("bosmina", "dubious", 0.2), ("daphnia", "predicted", 0.1), ("bosmina", "predicted", None),
    ("keratella", "predicted", 0.5), ("daphnia", "validated", 0.7), (None, None, None),
    ("daphnia", "predicted", 0.9), ("bosmina", "predicted", 0.3), ("keratella", "validated", 1.0),
]
FILTERS: list[dict[str, Any]] = [{}, {"state": "predicted"}, {"label": "daphnia"},
                                 {"state": "predicted", "label": "daphnia"}]


def _new_image(seed: str) -> NewImage:
    return NewImage(hashlib.sha256(seed.encode()).hexdigest(), "jpeg", 80, 60,
                    ImageDetails(instrument="SPC"))


async def _fill(conn: asyncpg.Connection, seed: str = "") -> list[int]:
    ids = []
    for n, (taxon, state, confidence) in enumerate(LABELS):
        image = await repository.insert_image(conn, _new_image(f"{seed}{n}"))
        assert image is not None
        if taxon is not None:
            await repository.append_label(conn, image.id, NewLabel(taxon, state, confidence=confidence))
        ids.append(image.id)
    return ids


async def _by_cursor(conn: asyncpg.Connection, order: str, limit: int = 4,
                     between_pages: list[int] | None = None, **filters: Any) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        page = await repository.list_images(conn, limit, 0, order=order, cursor=cursor, **filters)
        seen += [image.id for image in page.images]
        if page.next_cursor is None:
            return seen
        if between_pages is not None and len(between_pages) < 2 * len(LABELS):
            # Images arrive while a person pages (twice: a listing that grows for ever never ends).
            between_pages += await _fill(conn, f"new{len(seen)}-")
        cursor = page.next_cursor


@pytest.mark.parametrize("order", list(queries.LIST_KEYS))
@pytest.mark.parametrize("filters", FILTERS)
async def test_cursor_pages_cover_every_image_once_in_the_listing_order(
        conn: asyncpg.Connection, order: str, filters: dict[str, Any]) -> None:
    await _fill(conn)
    everything = await repository.list_images(conn, 1000, 0, order=order, **filters)
    assert everything.images, "the filter matches images"
    assert await _by_cursor(conn, order, **filters) == [i.id for i in everything.images]


async def test_the_last_full_page_says_there_is_no_next(conn: asyncpg.Connection) -> None:
    await _fill(conn)
    page = await repository.list_images(conn, len(LABELS), 0)
    assert len(page.images) == len(LABELS) and page.next_cursor is None


@pytest.mark.parametrize("order", list(queries.LIST_KEYS))
async def test_pages_stay_stable_while_images_arrive(conn: asyncpg.Connection, order: str) -> None:
    before = await _fill(conn)
    arrived: list[int] = []
    seen = await _by_cursor(conn, order, between_pages=arrived)
    assert arrived, "images arrived between pages"
    assert len(seen) == len(set(seen)), "no image twice"
    assert set(before) <= set(seen), "no image that was there is skipped"
    assert set(seen) <= set(before) | set(arrived)
    if order == "newest":  # a new image is newer than the page being read: never in later pages
        assert seen == sorted(before, reverse=True)


def _forge(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize("cursor", [
    "not base64 !", "bm90IGpzb24", _forge([1, 2]), _forge({"order": "newest", "key": ["7"]}),
    _forge({"order": "newest", "key": [1, 2]}), _forge({"order": "newest", "key": [True]}),
    _forge({"order": "newest", "key": [2**70]}), _forge({"order": "uncertain", "key": [0.5, 3]}),
    _forge({"order": "confident", "key": ["a\udc80", 0.5, 3]}),
    base64.urlsafe_b64encode(b"[" * 1400).decode(),
])
async def test_a_forged_cursor_is_refused_naming_it(conn: asyncpg.Connection, cursor: str) -> None:
    with pytest.raises(InvalidMetadata, match="cursor"):
        await repository.list_images(conn, 5, 0, order="newest", cursor=cursor)


async def test_the_route_answers_a_forged_cursor_422_and_pages_by_cursor(catalog: Catalog) -> None:
    async with catalog.app.state.pool.acquire() as conn:
        ids = await _fill(conn)
    answer = await catalog.client.get("/v1/images", params={"cursor": _forge({"x": 1})})
    assert answer.status_code == 422 and "cursor" in answer.json()["detail"]
    both = await catalog.client.get("/v1/images", params={"cursor": "x", "offset": 2})
    assert both.status_code == 422 and "cursor" in both.json()["detail"]
    first = (await catalog.client.get("/v1/images", params={"limit": 10})).json()
    second = (await catalog.client.get("/v1/images", params={"limit": 10,
                                                              "cursor": first["next_cursor"]})).json()
    assert [i["id"] for i in first["data"] + second["data"]] == sorted(ids, reverse=True)
    assert first["count"] == second["count"] == len(ids) and second["next_cursor"] is None


@pytest.mark.parametrize(("order", "filters"), [
    ("newest", {}), ("newest", {"label": "daphnia"}), ("newest", {"project_id": 1}),
    ("newest", {"instrument": "SPC"}), ("confident", {"state": "predicted", "label": "daphnia"}),
    ("confident", {"state": "predicted"}), ("uncertain", {"state": "predicted"}),
])
async def test_an_index_delivers_each_cursor_page_in_order(
        conn: asyncpg.Connection, order: str, filters: dict[str, Any]) -> None:
    """With sorting priced out, a Sort node would still appear if no index gave the order; the
    page is an index scan that starts at the cursor (EXPLAIN at 500,000 rows: docs/benchmarks.md)."""
    await _fill(conn)
    column = {"state": "label_state"}
    columns = [column.get(name, name) for name in filters]
    first = await repository.list_images(conn, 2, 0, order=order, **filters)
    assert first.next_cursor is not None
    after = keyset.decode(first.next_cursor, order)
    page_sql, _, keyset_values = queries.list_images_sql(columns, order, False, False, after)
    await conn.execute("SET LOCAL enable_sort = off; SET LOCAL enable_seqscan = off;"
                       " SET LOCAL enable_bitmapscan = off")
    plan = "\n".join(r[0] for r in await conn.fetch(
        f"EXPLAIN {page_sql}", 2, 0, *filters.values(), *keyset_values))
    assert "Sort" not in plan and "Index" in plan, plan
