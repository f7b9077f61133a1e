"""The ingest worker's rounds (IngestWorker.run_once, reindex_once, and its loop) over the real
catalog, embedder and search apps in-process. A service that is away is a host the transport
refuses (httpx.ConnectError), as a closed port is; everything else is the real thing.

What a round did is read where it is kept: the catalog's job status and images, the search
collection's count, the worker's `settled` and `reindexed` counters. One liberty: the back-off
test reads a retried item's wait from the catalog's ingest_items table, and skips the longer
waits there rather than sleeping through them.
"""

import asyncio
import contextlib
import hashlib
from typing import Any

import httpx

from tests.support.catalog import Catalog, closed_job, job_status
from tests.support.data import REPO_ROOT, zoolake_images
from tests.support.service_key import SERVICE_HEADERS
from tests.support.services import ServiceRouter, embedder_app, running_apps
from tests.support.worker import ingest_loop, worker_over

OTHER_MODEL = REPO_ROOT / "models" / "efficientnet-lite0-imagenet.onnx"


def files(label: str, count: int) -> list[tuple[str, bytes]]:
    return [(path.name, path.read_bytes()) for path in zoolake_images(label, count)]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def image_by_sha256(catalog: Catalog, data: bytes) -> dict[str, Any]:
    answer = await catalog.client.get(f"/v1/images/by-sha256/{sha256(data)}")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def indexed_count(http: httpx.AsyncClient, model: str) -> int:
    answer = await http.get(f"http://search/v1/collections/{model}/count")
    assert answer.status_code == 200, answer.text
    return answer.json()["count"]


async def active_model(http: httpx.AsyncClient) -> str:
    return (await http.get("http://embedder/v1/model")).json()["name"]


def files_embedded(services: ServiceRouter) -> int:
    """Files sent to the embedder so far: one multipart part each."""
    return sum(request.content.count(b'name="files"')
               for request in services.sent_to("embedder", "/v1/embed"))


async def retry_schedule(catalog: Catalog, job_id: int) -> list[tuple[str, int, float]]:
    """(status, attempts, seconds until due) of each item of the job, as the catalog keeps them:
    a retried item's `not_before` is set in the same statement as its `updated_at`."""
    async with catalog.app.state.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT status, attempts, extract(epoch FROM not_before - updated_at)::float8 AS wait"
            " FROM ingest_items WHERE job_id = $1 ORDER BY id", job_id)
    return [(row["status"], row["attempts"], round(row["wait"], 3)) for row in rows]


async def skip_the_wait(catalog: Catalog, job_id: int) -> None:
    """Make the job's retried items due now, as if their back-off had passed."""
    async with catalog.app.state.pool.acquire() as conn:
        await conn.execute("UPDATE ingest_items SET not_before = now() WHERE job_id = $1", job_id)


async def test_a_batch_whose_services_are_down_backs_off_exponentially_then_fails(
    catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient
):
    job_id = await closed_job(catalog, files("daphnia", 2))
    services.down |= {"embedder", "search"}
    worker = worker_over(http, max_attempts=5, max_backoff_s=3.0)
    waits = []
    for attempt in (1, 2, 3, 4):
        assert await worker.run_once()
        schedule = await retry_schedule(catalog, job_id)
        assert {(status, attempts) for status, attempts, _ in schedule} == {("pending", attempt)}
        [wait] = {wait for _, _, wait in schedule}  # the batch is retried as one
        waits.append(wait)
        assert not await worker.run_once()  # not due again before its back-off has passed
        if attempt == 1:
            await asyncio.sleep(wait + 0.05)  # and due once it has
        else:
            await skip_the_wait(catalog, job_id)
    assert waits == [0.5, 1.0, 2.0, 3.0]  # doubling from half a second, capped at max_backoff_s
    assert await worker.run_once()  # the fifth attempt is the last
    job = await job_status(catalog, job_id)
    assert job["finished"] and job["counts"]["failed"] == 2, job
    assert [e["error"] for e in job["errors"]] == [
        "gave up after 5 attempts: embedder service unreachable"] * 2
    assert worker.settled == 2 * 5
    assert await catalog.row_count() == 0


async def test_an_image_stored_before_search_went_down_is_indexed_on_retry_not_stored_twice(
    catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient
):
    first, second = files("bosmina", 2)
    worker = worker_over(http)
    await closed_job(catalog, [first])
    assert await worker.run_once()  # all up: the worker knows its model from here on
    model = await active_model(http)
    job_id = await closed_job(catalog, [second])
    services.down.add("search")
    assert await worker.run_once()
    assert (await job_status(catalog, job_id))["counts"]["pending"] == 1  # to be retried
    stored = await image_by_sha256(catalog, second[1])  # the catalog has it, unindexed
    assert stored["indexed_at"] is None

    services.down.clear()
    await asyncio.sleep(0.55)  # the first back-off
    assert await worker.run_once()
    job = await job_status(catalog, job_id)
    assert job["finished"] and job["counts"]["done"] == 1, job  # done, not a duplicate of itself
    indexed = await image_by_sha256(catalog, second[1])
    assert indexed["id"] == stored["id"] and indexed["indexed_model"] == model
    assert await catalog.row_count() == 2
    assert await indexed_count(http, model) == 2
    assert worker.settled == 3


async def test_each_content_of_a_claim_is_embedded_once(
    catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient
):
    (a_name, a), (b_name, b) = files("asplanchna", 2)
    job_id = await closed_job(catalog, [(a_name, a), ("copy-of-" + a_name, a), (b_name, b)])
    worker = worker_over(http, batch_size=10)
    assert await worker.run_once()
    assert files_embedded(services) == 2
    job = await job_status(catalog, job_id)
    counts = job["counts"]
    assert (counts["done"], counts["duplicate"], counts["failed"]) == (2, 1, 0) and job["finished"]
    assert worker.settled == 3 and await catalog.row_count() == 2
    assert await indexed_count(http, await active_model(http)) == 2

    # Content the catalog holds, indexed in the active model: settled without the embedder.
    again = await closed_job(catalog, [("again.jpg", a)])
    assert await worker.run_once()
    assert files_embedded(services) == 2
    assert (await job_status(catalog, again))["counts"]["duplicate"] == 1


async def test_an_undecodable_file_fails_at_once_and_its_batch_mates_are_done(
    catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient
):
    [(name, good)] = files("dinobryon", 1)
    job_id = await closed_job(catalog, [(name, good), ("cut.jpg", good[:300])],
                              [{"source": "drop/good.jpg"}, {"source": "drop/cut.jpg"}])
    worker = worker_over(http)
    assert await worker.run_once()
    job = await job_status(catalog, job_id)
    assert job["finished"] and job["counts"]["done"] == 1 and job["counts"]["failed"] == 1, job
    [error] = job["errors"]
    assert error["source"] == "drop/cut.jpg" and error["error"]
    assert "gave up" not in error["error"]  # refused for what it is, not retried
    assert len(catalog.staged_files()) == 1  # a failed item keeps its bytes to look into
    assert await catalog.row_count() == 1


async def test_an_item_whose_staged_bytes_are_gone_fails_alone(
    catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient
):
    (lost_name, lost), (kept_name, kept) = files("ceratium", 2)
    job_id = await closed_job(catalog, [(lost_name, lost), (kept_name, kept)],
                              [{"source": "drop/lost.jpg"}, {"source": "drop/kept.jpg"}])
    [staged] = [path for path in catalog.staged_files() if path.name == sha256(lost)]
    staged.unlink()
    worker = worker_over(http, max_attempts=2, max_backoff_s=0.1)
    async with asyncio.timeout(30):
        while not (await job_status(catalog, job_id))["finished"]:
            if not await worker.run_once():
                await asyncio.sleep(0.05)
    job = await job_status(catalog, job_id)
    assert (job["counts"]["done"], job["counts"]["failed"]) == (1, 1), job
    [error] = job["errors"]
    assert error["source"] == "drop/lost.jpg" and "missing" in error["error"], error


async def test_fields_and_the_sender_travel_with_each_item_to_the_stored_image(
    catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient
):
    person = await catalog.client.post("/v1/annotators", json={"name": "Ruth", "institution": "Eawag"})
    assert person.status_code == 201, person.text
    [(name, data)] = files("keratella_quadrata", 1)
    item = {"source": "lake/2024/k.jpg", "label": "keratella_quadrata", "label_state": "validated",
            "instrument": "SPC", "sample": "S-7", "captured_at": "2024-06-01T12:00:00+00:00",
            "metadata": {"depth_m": 3.5}}
    await closed_job(catalog, [(name, data)], [item], actor=person.json()["id"])
    assert await worker_over(http).run_once()
    image = await image_by_sha256(catalog, data)
    assert {key: image[key] for key in ("label", "label_state", "instrument", "sample")} == {
        "label": "keratella_quadrata", "label_state": "validated", "instrument": "SPC",
        "sample": "S-7"}
    assert image["metadata"]["depth_m"] == 3.5
    assert image["captured_at"].startswith("2024-06-01T12:00:00")
    history = (await catalog.client.get(f"/v1/images/{image['id']}/labels")).json()["data"]
    assert [(h["taxon"], h["annotator_id"]) for h in history] == [
        ("keratella_quadrata", person.json()["id"])]


async def test_after_a_model_change_the_catalog_is_indexed_again_in_the_new_model(
    catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient
):
    job_id = await closed_job(catalog, files("fish", 5))
    assert await worker_over(http).run_once()
    old_model = await active_model(http)
    assert (await job_status(catalog, job_id))["counts"]["done"] == 5

    # The embedder restarted on another model; so did the worker (it learns its model once).
    other = embedder_app(model_path=OTHER_MODEL)
    async with running_apps({"embedder": other}):
        switched = ServiceRouter({**services.apps, "embedder": other})
        async with httpx.AsyncClient(transport=switched, headers=SERVICE_HEADERS) as after:
            new_model = await active_model(after)
            assert new_model != old_model
            worker = worker_over(after, batch_size=2)
            assert not await worker.run_once()  # no job items: only the re-index is left
            rounds = 0
            while await worker.reindex_once():
                rounds += 1
            assert (rounds, worker.reindexed) == (3, 5)
            assert not await worker.reindex_once()  # one pass per model
            assert files_embedded(switched) == 5  # each stored image once
            assert await indexed_count(after, new_model) == 5
            assert await indexed_count(after, old_model) == 5  # the old collection is left as is
    left = await catalog.client.get("/v1/images/unindexed", params={"model": new_model})
    assert left.json()["data"] == []
    assert worker.settled == 0


async def test_the_loop_outlasts_a_catalog_outage_and_then_finishes_the_job(
    catalog: Catalog, services: ServiceRouter, http: httpx.AsyncClient
):
    job_id = await closed_job(catalog, files("daphnia", 3))
    services.down.add("catalog")
    worker = worker_over(http, idle_poll_s=0.05)
    loop = asyncio.create_task(ingest_loop(worker))
    try:
        await asyncio.sleep(0.3)  # several rounds that cannot claim anything
        assert not loop.done() and worker.settled == 0
        services.down.clear()
        async with asyncio.timeout(60):
            # The catalog records the results before the worker has its answer: wait for both.
            while True:
                finished = (await job_status(catalog, job_id))["finished"]
                if finished and worker.settled == 3:
                    break
                await asyncio.sleep(0.05)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    assert (await job_status(catalog, job_id))["counts"]["done"] == 3
    assert worker.settled == 3
