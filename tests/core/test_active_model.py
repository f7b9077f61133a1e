"""The active model version: the catalog's record (the embedder's default when none), the other
versions kept, a switch seen within about a second, and never a request held up by a slow or
absent catalog once one answer is in; over the real catalog, embedder (two ONNX models) and
search apps."""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from nauplius.core.active_model import ActiveModel
from nauplius.core.clients import Downstream
from nauplius.core.contracts.models import ReembedIn, ReembedProgress, VersionIn
from tests.support.catalog import Catalog
from tests.support.data import REPO_ROOT
from tests.support.service_key import SERVICE_HEADERS, SERVICE_KEY
from tests.support.services import ServiceRouter, embedder_app, running_apps, search_app

DEFAULT = REPO_ROOT / "models" / "plankton-lite0-int8.onnx"
OTHER = REPO_ROOT / "models" / "plankton-lite0.onnx"
TTL_S = 0.2


class SlowCatalog(ServiceRouter):
    """The catalog's /v1/models answering after `delay_s` (a fault no real part causes on cue)."""

    delay_s = 0.0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "catalog" and request.url.path == "/v1/models":
            await asyncio.sleep(self.delay_s)
        return await super().handle_async_request(request)


@pytest.fixture
async def downstream(catalog: Catalog, tmp_path: Path) -> AsyncIterator[tuple[Downstream, SlowCatalog]]:
    apps = {"embedder": embedder_app(model_paths=[DEFAULT, OTHER], threads=1),
            "search": search_app(tmp_path / "search")}
    async with running_apps(apps):
        router = SlowCatalog({**apps, "catalog": catalog.app})
        async with httpx.AsyncClient(transport=router, headers=SERVICE_HEADERS) as http:
            yield Downstream.over(http, "http://embedder", "http://search", "http://catalog",
                                  service_key=SERVICE_KEY), router


async def _fill(downstream: Downstream) -> None:
    """plankton-lite0 recorded as filled (its re-embed's bookkeeping, without the embedding)."""
    queued = await downstream.catalog.queue_reembed("plankton-lite0", ReembedIn(
        output_dim=1280, current=VersionIn(name="plankton-lite0-int8", output_dim=1280)))
    await downstream.catalog.reembed_progress("plankton-lite0", ReembedProgress(
        job_id=queued.job_id, done=0, total=0, after_id=0, complete=True))


async def test_none_recorded_is_the_embedders_default_with_its_collection(downstream):
    down, _ = downstream
    versions = await ActiveModel(down).versions()
    assert versions.active.name == "plankton-lite0-int8" and versions.others == ()
    assert (await down.search.collection_info("plankton-lite0-int8")).count == 0


async def test_a_filling_version_is_kept_and_its_collection_made(downstream):
    down, _ = downstream
    await down.catalog.queue_reembed("plankton-lite0", ReembedIn(
        output_dim=1280, current=VersionIn(name="plankton-lite0-int8", output_dim=1280)))
    versions = await ActiveModel(down).versions()
    assert versions.active.name == "plankton-lite0-int8"
    assert [m.name for m in versions.written] == ["plankton-lite0-int8", "plankton-lite0"]
    assert versions.filling == {"plankton-lite0"}
    assert (await down.search.collection_info("plankton-lite0")).count == 0


async def test_a_switch_is_seen_within_the_ttl_and_a_slow_catalog_holds_no_request(downstream):
    down, router = downstream
    await _fill(down)
    active = ActiveModel(down, ttl_s=TTL_S)
    assert (await active.get()).name == "plankton-lite0-int8"
    await down.catalog.activate_model("plankton-lite0")
    router.delay_s = 1.0
    await asyncio.sleep(TTL_S * 1.5)
    started = time.monotonic()
    assert (await active.get()).name == "plankton-lite0-int8"  # the last answer, at once
    assert time.monotonic() - started < 0.1
    for _ in range(60):  # the refresh in the background lands within the catalog's delay
        if (await active.get()).name == "plankton-lite0":
            break
        await asyncio.sleep(0.05)
    seen_after = time.monotonic() - started
    assert (await active.get()).name == "plankton-lite0"
    assert seen_after < router.delay_s + TTL_S + 0.5, seen_after
    versions = await active.versions()
    assert [m.name for m in versions.others] == ["plankton-lite0-int8"]  # complete: kept


async def test_the_last_answer_stays_while_the_catalog_is_away(downstream):
    down, router = downstream
    active = ActiveModel(down, ttl_s=TTL_S)
    assert (await active.get()).name == "plankton-lite0-int8"
    router.down.add("catalog")
    await asyncio.sleep(TTL_S * 1.5)
    for _ in range(3):
        assert (await active.get()).name == "plankton-lite0-int8"
        await asyncio.sleep(TTL_S)


async def test_a_retired_then_queued_again_version_gets_its_collection_again(downstream):
    down, _ = downstream
    await _fill(down)
    active = ActiveModel(down)
    assert [m.name for m in (await active.refresh()).others] == ["plankton-lite0"]
    await down.catalog.retire_model("plankton-lite0")
    assert await down.search.drop_collection("plankton-lite0") == 0
    assert (await active.refresh()).others == ()
    # Queued again at the catalog itself (no gateway to make the collection): ensured here.
    await down.catalog.queue_reembed("plankton-lite0", ReembedIn(output_dim=1280))
    assert [m.name for m in (await active.refresh()).others] == ["plankton-lite0"]
    assert (await down.search.collection_info("plankton-lite0")).count == 0
