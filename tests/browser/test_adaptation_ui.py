"""The adaptation dialog in a real headless Chromium against the real system: a project whose head
is fitted and in use shows its version, labels and cross-validated top-1 plain -> adapted; Refit
queues a job; a viewer sees no Refit button. NAUPLIUS_SCREENSHOTS keeps a PNG of the dialog."""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import httpx
import pytest

from nauplius.core.contracts.gateway import gateway_headers
from tests.support.browser import CHROMIUM
from tests.support.data import ZOOLAKE
from tests.support.nuisance_vectors import PER_CLASS, nuisance_vectors
from tests.support.stack import running_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's chromium is not installed at /usr/bin/chromium "
                       "(apt-get install chromium); .ci/run installs it"),
]
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed (pip install -e '.[test]')")


def _finished(api: httpx.Client, job_id: int) -> dict:
    for _ in range(600):
        job = api.get(f"/api/v1/jobs/{job_id}").json()
        if job["finished"]:
            assert job["task"]["status"] == "done", job
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """(gateway url, admin key, a viewer's key, project id) with the project's head in use."""
    with running_stack(tmp_path_factory.mktemp("nauplius-adapt"), "nauplius_adapt_ui") as stack:
        url, key = stack.services["gateway"].url, stack.api_key
        service = httpx.Client(headers=stack.service_headers(), timeout=60)
        with httpx.Client(base_url=url, headers=gateway_headers(key), timeout=60) as api:
            person = api.post("/api/v1/annotators", json={"name": "Vera"}).json()
            viewer = api.post("/api/v1/api-keys", json={"annotator_id": person["id"],
                                                        "role": "viewer"}).json()["key"]
            for taxon in ("daphnia", "bosmina"):
                api.post("/api/v1/taxa", json={"name": taxon}).raise_for_status()
            real = sorted((ZOOLAKE / "daphnia").iterdir())[0]
            [uploaded] = api.post("/api/v1/images", files=[("files", (real.name, real.read_bytes()))]
                                  ).json()["data"]
            model = api.get("/api/v1/model").json()["name"]
            search = f"{stack.services['search'].url}/v1/collections/{model}"
            [stored] = service.post(f"{search}/points/vectors", json={"ids": [uploaded["id"]]}).json()["data"]
            project = api.post("/api/v1/projects", json={"name": "second instrument"}).json()["id"]
            classes = ["daphnia"] * PER_CLASS + ["bosmina"] * PER_CLASS
            sides = [1.0] * (PER_CLASS - 1) + [-1.0] + [-1.0] * (PER_CLASS - 1) + [1.0]
            rows = [{"sha256": hashlib.sha256(f"ui-{n}".encode()).hexdigest(), "project_id": project,
                     "label": c, "label_state": "validated"} for n, c in enumerate(classes)]
            catalog = stack.services["catalog"].url
            ids = service.post(f"{catalog}/v1/images/bulk-rows", json={"rows": rows}).json()["image_ids"]
            vectors = nuisance_vectors(len(stored["vector"]), sides, classes, 1)
            points = [{"id": i, "vector": v.tolist(), "payload": {
                "label": c, "state": "validated", "instrument": None, "sample": None,
                "project": str(project)}} for i, v, c in zip(ids, vectors, classes, strict=True)]
            service.put(f"{search}/points", json={"points": points}).raise_for_status()
            service.post(f"{catalog}/v1/images/indexed", json={"ids": ids, "model": model}
                         ).raise_for_status()
            refit = api.post(f"/api/v1/projects/{project}/adaptation/refit").json()
            assert _finished(api, refit["job_id"])["task"]["result"]["active"] is True
        yield url, key, viewer, project


def _signed_in(browser, url: str, key: str):
    page = browser.new_context(base_url=url, viewport={"width": 1280, "height": 860}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/")
    page.fill("#signin-key", key)
    page.click("#signin-form button[type=submit]")
    sync_api.expect(page.locator("#signin")).to_be_hidden()
    return page, errors


def test_the_dialog_shows_the_head_in_use_and_refits(system):
    url, admin_key, viewer_key, project = system
    expect = sync_api.expect
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page, errors = _signed_in(browser, url, admin_key)
            page.click("#show-adaptation")
            page.select_option("#adaptation-project", str(project))
            summary = page.locator("#adaptation-summary")
            expect(summary).to_contain_text("In use: version")
            expect(summary).to_contain_text(f"learned from {2 * PER_CLASS} labels of 2 classes")
            expect(summary).to_contain_text("95.0 % \u2192 100.0 %")
            expect(page.locator("#adaptation-versions tr")).to_have_count(1)
            if os.environ.get("NAUPLIUS_SCREENSHOTS"):
                page.screenshot(path=str(Path(os.environ["NAUPLIUS_SCREENSHOTS"]) / "adaptation.png"))
            page.click("#adaptation-refit")
            expect(page.locator("#adaptation-status")).to_contain_text("Refit queued (job")
            assert errors == []

            page, errors = _signed_in(browser, url, viewer_key)
            page.click("#show-adaptation")
            page.select_option("#adaptation-project", str(project))
            expect(page.locator("#adaptation-summary")).to_contain_text("In use: version")
            expect(page.locator("#adaptation-refit")).to_be_hidden()
            assert errors == []
        finally:
            browser.close()
