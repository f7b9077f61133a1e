"""The near-duplicates view in a real headless Chromium against the real system (five processes,
auth on): a real ZooLake image and a shifted copy of it sent as one job with an instrument and a
sample are flagged by the worker; the page shows the pair and one key merges it.

Set NAUPLIUS_SCREENSHOTS=DIR to keep screenshots of each step for a person to look at.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from nauplius.core.contracts.gateway import gateway_headers
from tests.support.augment import shifted
from tests.support.browser import CHROMIUM
from tests.support.stack import running_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's chromium is not installed at /usr/bin/chromium "
                       "(apt-get install chromium); .ci/run installs it"),
]
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def system(shared_data: Path, tmp_path_factory):
    """The running system holding one validated daphnia, its shifted copy and one other daphnia,
    all of one sample: (url, key, ids by file name, the validated image's name)."""
    data_dir = tmp_path_factory.mktemp("nauplius-duplicates-ui")
    first, other = sorted((shared_data / "zoolake" / "daphnia").iterdir())[:2]
    files = [(first.name, first.read_bytes()), ("copy.jpg", shifted(first.read_bytes())),
             (other.name, other.read_bytes())]
    items = [{"source": name, "instrument": "SPC", "sample": "S-1",
              **({"label": "daphnia", "label_state": "validated"} if name == first.name else {})}
             for name, _ in files]
    with running_stack(data_dir, "nauplius_duplicates_ui") as stack:
        url, key = stack.services["gateway"].url, stack.api_key
        with httpx.Client(base_url=url, headers=gateway_headers(key), timeout=60) as api:
            job = api.post("/api/v1/jobs", data={"items": json.dumps(items)},
                           files=[("files", f) for f in files])
            assert job.status_code == 201, job.text
            deadline = time.monotonic() + 120
            while not api.get(f"/api/v1/jobs/{job.json()['id']}").json()["finished"]:
                assert time.monotonic() < deadline, "the ingest job did not finish"
                time.sleep(0.3)
            listed = api.get("/api/v1/images", params={"limit": 10}).json()["data"]
        yield url, key, {image["filename"]: image["id"] for image in listed}, first.name


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def test_the_duplicates_view_shows_the_pair_and_m_merges_it(system, browser):
    url, key, ids, validated = system
    expect = sync_api.expect
    page = browser.new_context(base_url=url, viewport={"width": 1440, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    folder = os.environ.get("NAUPLIUS_SCREENSHOTS")

    page.goto("/")
    page.fill("#signin-key", key)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#grid .tile")).to_have_count(3)
    expect(page.locator("#show-duplicates")).to_have_text("Duplicates (1)")
    expect(page.locator("#count-remaining")).to_have_text("2")

    page.click("#show-duplicates")
    pair = page.locator("#grid .dup-pair")
    expect(pair).to_have_count(1)
    # The pair is flagged on whichever of the two was stored second: one job's images are stored
    # concurrently, so either may come first.
    expect(pair).to_have_attribute("data-image-id", str(max(ids["copy.jpg"], ids[validated])))
    expect(pair.locator("figcaption")).to_have_count(2)
    expect(pair).to_contain_text("cosine 0.9")
    page.wait_for_function("Array.from(document.querySelectorAll('#grid .dup-pair img'))"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    box = pair.locator("img").first.bounding_box()
    assert box is not None and box["height"] > 150  # larger than the grid's 120 px tiles
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / "duplicates-1-pair.png"))

    page.keyboard.press("m")
    # The validated original keeps its label; the unlabelled copy is merged into it.
    expect(page.locator("#action-status")).to_have_text(f"merged #{ids['copy.jpg']} into #{ids[validated]}")
    expect(page.locator("#grid .dup-pair")).to_have_count(0)
    expect(page.locator("#show-duplicates")).to_have_text("Duplicates (0)")
    expect(page.locator("#count-remaining")).to_have_text("1")  # the copy left the counts
    if folder:
        page.screenshot(path=str(Path(folder) / "duplicates-2-merged.png"))

    page.click("#back-to-browse")
    expect(page.locator("#grid .tile")).to_have_count(2)  # the merged copy left the list
    assert ids["copy.jpg"] not in [int(t) for t in page.locator("#grid .tile").evaluate_all(
        "ts => ts.map(t => t.dataset.id)")]
    assert errors == []
