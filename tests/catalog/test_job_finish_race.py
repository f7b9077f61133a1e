"""A job closed while a worker settles its last items finishes, whichever commits first.

Found by `nauplius bench load`: a job of three images stayed open forever, closed with every item
done. The close (the gateway's, right after the items) and the worker's results ran in two
transactions at once; each asked "is the job finished?" before the other had committed, so the
close saw items still running and the results saw the job still open. Here the two really run
at the same time on two connections of the catalog's pool: one holds its transaction open while
the other tries, until the other has finished or waits on a lock."""

import asyncio
from collections.abc import Callable, Coroutine

import asyncpg
import pytest

from nauplius.core.contracts.catalog import ItemResult
from services.catalog import jobs
from tests.support.catalog import Catalog, add_items, job_status, new_job


async def _claimed_job(catalog: Catalog) -> tuple[int, list[int]]:
    job_id = await new_job(catalog)
    added = await add_items(catalog, job_id, [("a.jpg", b"not checked here"), ("b.jpg", b"nor")])
    assert added.status_code == 200, added.text
    claimed = await catalog.client.post("/v1/jobs/claim", json={"limit": 10, "lease_s": 60})
    assert claimed.status_code == 200, claimed.text
    return job_id, [item["id"] for item in claimed.json()["data"]]


async def _done_or_waiting(task: asyncio.Task[None], pid: int, watcher: asyncpg.Connection) -> None:
    """Until the task has finished or its connection waits for a lock the other one holds."""
    for _ in range(600):
        if task.done():
            return
        waiting = await watcher.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid)
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the second transaction neither finished nor waited")


@pytest.mark.parametrize("first", ["results", "close"])
async def test_a_job_closed_while_its_last_items_settle_finishes(catalog: Catalog, first: str) -> None:
    job_id, item_ids = await _claimed_job(catalog)
    assert len(item_ids) == 2
    results = [ItemResult(id=item_id, outcome="failed", error="refused") for item_id in item_ids]
    pool = catalog.app.state.pool

    async def settle(conn: asyncpg.Connection) -> None:
        await jobs.record_results(conn, results)

    async def close(conn: asyncpg.Connection) -> None:
        await jobs.close_job(conn, job_id)

    steps: dict[str, Callable[[asyncpg.Connection], Coroutine[None, None, None]]] = {
        "results": settle, "close": close}
    second = "close" if first == "results" else "results"
    async with pool.acquire() as one, pool.acquire() as other, pool.acquire() as watcher:
        transaction = one.transaction()
        await transaction.start()
        await steps[first](one)  # done, not yet committed
        task = asyncio.create_task(steps[second](other))
        await _done_or_waiting(task, other.get_server_pid(), watcher)
        await transaction.commit()
        await task
    status = await job_status(catalog, job_id)
    assert status["closed"] and status["counts"]["failed"] == 2
    assert status["finished"], status
