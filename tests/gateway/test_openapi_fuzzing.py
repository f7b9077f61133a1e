"""Schemathesis against the real system's public OpenAPI, with a valid admin key: every route,
a bounded number of generated requests each (positive and negative data). No answer may be a
5xx, and every error answers a JSON body whose `detail` names the problem.

Left out: revoking an API key (a generated id would soon revoke the key the fuzzing runs with,
and every later request would only test the 401 path).
"""
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis

from gateway.main import create_app
from nauplius.core.contracts.gateway import gateway_headers
from tests.support.stack import running_stack

EXAMPLES_PER_ROUTE = 25


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("nauplius-fuzz"), "nauplius_fuzz") as running:
        yield running


@pytest.fixture(scope="module")
def seeded(stack, zoolake) -> dict[str, Any]:
    """A few real images, so ids the fuzzer draws sometimes exist."""
    headers = gateway_headers(stack.api_key)
    with httpx.Client(base_url=stack.services["gateway"].url, headers=headers, timeout=120) as http:
        files = [("files", (sample.path.name, sample.data)) for sample in zoolake[:4]]
        answer = http.post("/api/v1/images", files=files, params={"wait_s": 60})
        assert answer.status_code == 200, answer.text
    return {"headers": headers, "base_url": stack.services["gateway"].url, "stack": stack}


# The public OpenAPI as the gateway serves it (/openapi.json), built from the same code in-process
# so the routes are known when the tests are collected.
schema = schemathesis.openapi.from_dict(create_app().openapi()).exclude(
    path_regex=r"/api-keys/\{key_id\}/revoke$")


def _error_names_its_problem(response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        pytest.fail(f"{response.status_code} without a JSON body: {response.text[:300]!r}")
    assert isinstance(body, dict) and body.get("detail"), body


@schema.parametrize()
@hypothesis.settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_no_route_answers_5xx_and_every_error_names_its_problem(case, seeded):
    response = case.call(base_url=seeded["base_url"], headers=seeded["headers"], timeout=120)
    if response.status_code >= 500:
        logs = "\n".join(f"--- {name}:\n{service.log_tail(15)}"
                         for name, service in seeded["stack"].services.items())
        pytest.fail(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:500]}\n{logs}")
    _error_names_its_problem(response)
