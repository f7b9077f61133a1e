"""What operators see, on the real processes: every service's Prometheus metrics behind its
credential, and JSON log lines that carry the gateway's request id through every service."""

import json
import time

import httpx
import pytest

from nauplius.core.contracts.gateway import gateway_headers
from tests.support.stack import running_stack

pytestmark = pytest.mark.e2e

TRACE = "trace-0123456789"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("nauplius-observed"), "nauplius_observed",
                       NAUPLIUS_LOG_FORMAT="json") as running:
        yield running


@pytest.fixture(scope="module")
def gateway(stack):
    with httpx.Client(base_url=stack.services["gateway"].url, timeout=120,
                      headers=gateway_headers(stack.api_key)) as http:
        yield http


@pytest.fixture(scope="module")
def searched(gateway, zoolake) -> httpx.Response:
    """Four images stored and indexed, then one query by image under a request id of ours."""
    files = [("files", (s.path.name, s.data)) for s in zoolake[:4]]
    stored = gateway.post("/api/v1/images", files=files, params={"wait_s": 60})
    assert stored.status_code == 200, stored.text
    answer = gateway.post("/api/v1/search", files={"file": ("q.jpg", zoolake[5].data)},
                          headers={"X-Request-ID": TRACE})
    assert answer.status_code == 200, answer.text
    return answer


def _json_lines(stack, name: str) -> list[dict]:
    """The service's log after uvicorn's first lines (printed before the app configures logging):
    every line from the first JSON one on must be JSON."""
    lines = [line for line in stack.services[name].log_path.read_text().splitlines() if line.strip()]
    first = next(i for i, line in enumerate(lines) if line.startswith("{"))
    return [json.loads(line) for line in lines[first:]]


def _traced(stack, name: str) -> list[dict]:
    """The lines logged under TRACE; a service logs a request once it has answered it, so the
    line may come a moment after the answer."""
    deadline = time.monotonic() + 30
    while True:
        traced = [line for line in _json_lines(stack, name) if line.get("request_id") == TRACE]
        if any(line["event"] == "request" for line in traced) or time.monotonic() > deadline:
            return traced
        time.sleep(0.2)


def test_the_request_id_is_answered_and_logged_by_every_service_it_reached(stack, searched):
    assert searched.headers["X-Request-ID"] == TRACE
    for name in ("gateway", "embedder", "search", "catalog"):
        traced = _traced(stack, name)
        assert traced, f"{name} logged nothing under {TRACE}"
        assert all(line["service"] == name and line["level"] and line["timestamp"] for line in traced)
        assert any(line["event"] == "request" and line["status"] == 200 for line in traced), traced


def test_a_request_id_that_is_not_a_plain_token_is_replaced(gateway):
    answer = gateway.get("/api/v1/images", headers={"X-Request-ID": "x" * 65})
    assert answer.status_code == 200
    replaced = answer.headers["X-Request-ID"]
    assert len(replaced) == 32 and int(replaced, 16) >= 0


def test_each_service_counts_its_requests_by_route_behind_its_credential(stack, searched):
    for name in ("embedder", "search", "catalog", "worker"):
        url = f"{stack.services[name].url}/metrics"
        assert httpx.get(url).status_code == 401
        metrics = httpx.get(url, headers=stack.service_headers())
        assert metrics.status_code == 200 and "nauplius_requests_total{" in metrics.text
        assert f'service="{name}"' in metrics.text
    search = httpx.get(f"{stack.services['search'].url}/metrics", headers=stack.service_headers()).text
    # Route templates, not raw paths: one series per route whatever the ids.
    routes = {line.split('route="')[1].split('"')[0] for line in search.splitlines()
              if line.startswith("nauplius_requests_total{")}
    assert routes and all("{" in r for r in routes if r.startswith("/v1/collections/")), routes
    assert not any(r.startswith("/v1/collections/plankton") for r in routes), routes
    points = [line for line in search.splitlines() if line.startswith("nauplius_index_points{")]
    assert points and float(points[0].rsplit(" ", 1)[1]) == 4
    catalog = httpx.get(f"{stack.services['catalog'].url}/metrics", headers=stack.service_headers()).text
    assert 'nauplius_job_queue{state="pending",what="items"} 0.0' in catalog
    worker = httpx.get(f"{stack.services['worker'].url}/metrics", headers=stack.service_headers()).text
    assert 'nauplius_worker_done{what="items_settled"}' in worker  # uploads here skip the worker


def test_the_gateways_metrics_need_an_admin_key(stack, gateway, searched):
    url = f"{stack.services['gateway'].url}/metrics"
    assert httpx.get(url).status_code == 401
    metrics = gateway.get("/metrics")
    assert metrics.status_code == 200
    assert 'route="/api/v1/search",service="gateway",status="200"' in metrics.text
