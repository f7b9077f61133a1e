"""A cluster review in a real headless Chromium against the real system (five processes, auth on):
4 ZooLake classes x 10 unlabelled images, no seed labels; recluster, open the best cluster, name
the part up to a chosen tile, go on to the next cluster and name two selected tiles of it.

Set NAUPLIUS_SCREENSHOTS=DIR to keep screenshots of each step for a person to look at.
"""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from nauplius.core.contracts.gateway import gateway_headers
from nauplius.ingest import ingest
from tests.support.browser import CHROMIUM, Shots
from tests.support.stack import running_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's chromium is not installed at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed (pip install -e '.[test]')")

CLASSES = ["daphnia", "dinobryon", "keratella_quadrata", "asterionella"]
PER_CLASS = 10


@pytest.fixture(scope="module")
def system(shared_data: Path, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("nauplius-clusters-ui")
    folder = data_dir / "input"
    truth: dict[str, str] = {}
    for name in CLASSES:
        for source in sorted((shared_data / "zoolake" / name).iterdir())[:PER_CLASS]:
            (folder / name).mkdir(parents=True, exist_ok=True)
            (folder / name / source.name).symlink_to(source)
            truth[source.name] = name
    with running_stack(data_dir, "nauplius_clusters_ui") as stack:
        url, key = stack.services["gateway"].url, stack.api_key
        report = ingest([folder], url, progress=False, api_key=key)
        assert (report.stored, report.errors) == (len(truth), [])
        with httpx.Client(base_url=url, headers=gateway_headers(key)) as api:
            for name in CLASSES:
                api.post("/api/v1/taxa", json={"name": name}).raise_for_status()
        yield url, key, truth


def test_review_a_cluster_name_part_then_the_rest(system, tmp_path):
    url, key, truth = system
    expect = sync_api.expect
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
        expect(page.locator("#show-clusters")).to_have_text("Clusters (0)")

        page.click("#show-clusters")
        expect(page.locator("#grid")).to_contain_text("press Recluster")
        page.click("#recluster")
        expect(page.locator("#grid .cl-card").first).to_be_visible(timeout=60_000)
        cards = page.locator("#grid .cl-card").count()
        expect(page.locator("#show-clusters")).to_have_text(f"Clusters ({cards})")
        shots.take("clusters-1-queue")

        page.click("#grid .cl-card >> nth=0 >> .cl-review")
        expect(page.locator("#cluster-banner")).to_contain_text("core first")
        tiles = page.locator("#grid .tile")
        size = tiles.count()
        assert size >= 5
        with httpx.Client(base_url=url, headers=gateway_headers(key)) as api:
            names = {i["id"]: truth[i["filename"]]
                     for i in api.get("/api/v1/images", params={"limit": 100}).json()["data"]}
        ids = [int(t) for t in tiles.evaluate_all("ts => ts.map(t => t.dataset.id)")]
        taxon = names[ids[0]]
        page.fill("#batch-taxon", taxon)
        page.keyboard.press("Escape")
        tiles.nth(2).click()
        expect(page.locator("#cluster-name-here")).to_have_text("Name up to here (3)")
        shots.take("clusters-2-cluster")
        page.click("#cluster-name-here")
        expect(page.locator("#action-status")).to_contain_text(f"named 3 × {taxon}")
        with httpx.Client(base_url=url, headers=gateway_headers(key)) as api:
            for image_id in ids[:3]:
                image = api.get(f"/api/v1/images/{image_id}").json()
                assert (image["label"], image["label_state"]) == (taxon, "validated")
            assert api.get(f"/api/v1/images/{ids[3]}").json()["label_state"] != "validated"
        # The next cluster opened: name two selected tiles of one class (not a run from the core).
        expect(page.locator("#cluster-banner")).to_be_visible()
        expect(page.locator("#cluster-name-selected")).to_be_disabled()
        expect(tiles.first).to_be_visible()
        next_ids = [int(t) for t in tiles.evaluate_all("ts => ts.map(t => t.dataset.id)")]
        assert not set(next_ids) & set(ids[:3])
        second = names[next_ids[0]]
        picked = [n for n, i in enumerate(next_ids) if names[i] == second][:2]
        assert len(picked) == 2, [names[i] for i in next_ids]
        page.fill("#batch-taxon", second)
        page.keyboard.press("Escape")
        tiles.nth(picked[0]).click()
        tiles.nth(picked[1]).click(modifiers=["Control"])
        expect(page.locator("#cluster-name-selected")).to_have_text("Name selected (2)")
        shots.take("clusters-3-selected")
        page.click("#cluster-name-selected")
        expect(page.locator("#action-status")).to_contain_text(f"named 2 × {second}")
        with httpx.Client(base_url=url, headers=gateway_headers(key)) as api:
            for n, image_id in enumerate(next_ids[:picked[1] + 1]):
                image = api.get(f"/api/v1/images/{image_id}").json()
                assert (image["label_state"] == "validated") == (n in picked), (n, image)
        # The rest of the first cluster is still in the queue.
        expect(page.locator("#cluster-banner")).to_be_visible()
        page.click("#cluster-queue")
        expect(page.locator("#grid .cl-card").first).to_be_visible()
        remaining = page.locator("#grid .cl-card strong").all_inner_texts()
        assert f"{size - 3} images" in remaining, remaining
        shots.take("clusters-4-after")
        browser.close()
        assert errors == []
