"""The Models dialog in a real headless Chromium against the real system (five processes, auth
on, the embedder serving two real carded models): 30 ZooLake images in plankton-lite0-int8, a
re-embed into plankton-lite0 started from the dialog with its counter moving, Activate offered
once it is complete, the switch, and back, then Retire (confirmed) of the version switched from.

Set NAUPLIUS_SCREENSHOTS=DIR to keep screenshots of each step for a person to look at.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from nauplius.core.contracts.gateway import gateway_headers
from nauplius.ingest import ingest
from tests.support.browser import CHROMIUM, Shots
from tests.support.data import REPO_ROOT
from tests.support.stack import running_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's chromium is not installed at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed (pip install -e '.[test]')")

OLD, NEW = "plankton-lite0-int8", "plankton-lite0"
CLASSES = ["daphnia", "dinobryon", "keratella_quadrata"]
PER_CLASS = 10


@pytest.fixture(scope="module")
def system(shared_data: Path, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("nauplius-models-ui")
    folder = data_dir / "input"
    for name in CLASSES:
        for source in sorted((shared_data / "zoolake" / name).iterdir())[:PER_CLASS]:
            (folder / name).mkdir(parents=True, exist_ok=True)
            (folder / name / source.name).symlink_to(source)
    models = json.dumps([str(REPO_ROOT / "models" / f"{m}.onnx") for m in (OLD, NEW)])
    with running_stack(data_dir, "nauplius_models_ui", EMBEDDER_MODEL_PATHS=models) as stack:
        url, key = stack.services["gateway"].url, stack.api_key
        report = ingest([folder], url, progress=False, api_key=key)
        assert (report.stored, report.errors) == (len(CLASSES) * PER_CLASS, [])
        yield url, key


def test_reembed_then_switch_and_back_from_the_dialog(system):
    url, key = system
    expect = sync_api.expect
    total = len(CLASSES) * PER_CLASS
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context(base_url=url, viewport={"width": 1440, "height": 900}).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        shots = Shots(page)
        page.goto("/")
        page.fill("#signin-key", key)
        page.click("#signin-form button[type=submit]")
        expect(page.locator("#signin")).to_be_hidden()

        page.click("#show-models")
        old_row, new_row = (page.locator(f"#models-list tr[data-model='{m}']") for m in (OLD, NEW))
        expect(old_row.locator(".md-state")).to_have_text("active")
        expect(new_row.locator(".md-state")).to_have_text("not embedded")
        expect(new_row.locator(".md-activate")).to_have_count(0)
        shots.take("models-1-before")

        new_row.locator(".md-reembed").click()
        expect(page.locator("#models-status")).to_contain_text(f"re-embedding into {NEW}")
        expect(new_row.locator(".md-state")).to_have_text("re-embedding")
        expect(new_row.locator(".md-progress")).to_have_text(re.compile(rf"^\d+ / {total}$"))
        shots.take("models-2-filling")
        expect(new_row.locator(".md-state")).to_have_text("complete", timeout=120_000)
        expect(new_row.locator(".md-progress")).to_have_text(f"{total} / {total}")

        new_row.locator(".md-activate").click()
        expect(page.locator("#models-status")).to_have_text(f"search answers from {NEW} now")
        expect(new_row.locator(".md-state")).to_have_text("active")
        expect(old_row.locator(".md-state")).to_have_text("complete")
        shots.take("models-3-switched")
        with httpx.Client(base_url=url, headers=gateway_headers(key)) as api:
            assert api.get("/api/v1/model").json()["name"] == NEW

        old_row.locator(".md-activate").click()
        expect(old_row.locator(".md-state")).to_have_text("active")
        expect(old_row.locator(".md-retire")).to_have_count(0)
        shots.take("models-4-back")
        page.once("dialog", lambda dialog: dialog.accept())
        new_row.locator(".md-retire").click()
        expect(page.locator("#models-status")).to_have_text(
            f"retired {NEW} ({total} points dropped)")
        expect(new_row.locator(".md-state")).to_have_text("not embedded")
        expect(new_row.locator(".md-retire")).to_have_count(0)
        page.click("#close-models")
        expect(page.locator("#models")).to_be_hidden()
        browser.close()
    assert errors == []
