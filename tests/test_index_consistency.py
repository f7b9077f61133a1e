"""Catalog and search index stay in step over real processes: a label written while the search
service is down reaches the index once it is back, with nobody retrying by hand (the outbox);
`nauplius reconcile` finds, and with --repair mends, what was changed behind the system's back."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from nauplius.cli import main
from nauplius.ingest import ingest
from tests.support.stack import running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("nauplius-outbox"), "nauplius_outbox") as running:
        yield running


@pytest.fixture(scope="module")
def image_ids(stack, client, shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for name in ("daphnia", "fish"):
        (folder / name).mkdir()
        for path in sorted((shared_data / "zoolake" / name).iterdir())[:3]:
            (folder / name / path.name).symlink_to(path)
    report = ingest([folder], str(client.base_url), label_from_folder=True, progress=False,
                    api_key=stack.api_key)
    assert report.stored == 6 and not report.errors
    return [image["id"] for image in client.get("/api/v1/images").json()["data"]]


def _collection(client) -> str:
    return client.get("/api/v1/model").json()["name"]


def _payloads(stack, collection: str, ids: list[int]) -> dict[int, dict]:
    answer = httpx.post(f"{stack.services['search'].url}/v1/collections/{collection}/points/retrieve",
                        json={"ids": ids}, timeout=30.0, headers=stack.service_headers())
    answer.raise_for_status()
    return {point["id"]: point["payload"] for point in answer.json()["data"]}


def _until(condition, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.25)
    raise AssertionError("condition not met in time")


def test_a_label_written_while_search_is_down_reaches_the_index(stack, client, image_ids):
    collection = _collection(client)
    target = image_ids[0]
    stack.kill("search")
    answer = client.put(f"/api/v1/images/{target}/label", json={"taxon": "rotifers"})
    assert answer.status_code == 200, answer.text  # stored; the index follows when it can
    assert answer.json()["label"] == "rotifers"
    stack.restart("search")
    payload = _until(lambda: (p := _payloads(stack, collection, [target]).get(target))
                     and p["label"] == "rotifers" and p)
    assert payload["state"] == "validated"
    outbox = httpx.get(f"{stack.services['catalog'].url}/v1/index-outbox",
                       headers=stack.service_headers()).json()
    assert outbox["pending"] == 0


def _reconcile(capsys, stack, *flags: str) -> tuple[int, dict]:
    url = stack.services["gateway"].url
    status = main(["reconcile", "--json", "--url", url, "--api-key", stack.api_key, *flags])
    return status, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_reconcile_finds_and_mends_a_deleted_vector_and_a_changed_payload(stack, client,
                                                                          image_ids, capsys):
    collection = _collection(client)
    search = stack.services["search"].url
    lost, tampered = image_ids[1], image_ids[2]
    assert _until(lambda: httpx.get(f"{stack.services['catalog'].url}/v1/index-outbox",
                                    headers=stack.service_headers()).json()["pending"] == 0)
    status, clean = _reconcile(capsys, stack)
    assert status == 0 and clean["missing_vectors"] == clean["stale_payloads"] == 0, clean

    # As a process holding the service credential could (and nobody else can: test_service_auth).
    httpx.post(f"{search}/v1/collections/{collection}/points/delete",
               json={"ids": [lost]}, headers=stack.service_headers()).raise_for_status()
    httpx.post(f"{search}/v1/collections/{collection}/points/payload",
               json={"ids": [tampered], "payload": {"label": "not-what-the-catalog-says"}},
               headers=stack.service_headers()).raise_for_status()
    status, found = _reconcile(capsys, stack)
    assert status == 1
    assert found["missing_vectors"] == 1 and found["examples"]["missing_vectors"] == [lost]
    assert found["stale_payloads"] == 1 and found["examples"]["stale_payloads"] == [tampered]
    assert found["stale_fields"] == {"label": 1}
    assert found["orphan_points"] == 0 and found["repaired"] is None

    status, repaired = _reconcile(capsys, stack, "--repair")
    assert status == 0
    assert repaired["repaired"] == {"reindexed": 1, "deleted_points": 0, "payloads": 1}
    image = client.get(f"/api/v1/images/{tampered}").json()
    assert _payloads(stack, collection, [tampered])[tampered]["label"] == image["label"]
    assert lost in _payloads(stack, collection, [lost])

    status, after = _reconcile(capsys, stack)
    assert status == 0
    assert after["missing_vectors"] == after["stale_payloads"] == after["orphan_points"] == 0
