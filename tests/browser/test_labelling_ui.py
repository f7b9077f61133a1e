"""The labelling frontend in a real headless Chromium against the real system (five processes, a fresh
PostgreSQL database, auth on with the admin key `nauplius up` writes, twenty real ZooLake images).

Set NAUPLIUS_SCREENSHOTS=DIR to keep screenshots of each step for a person to look at.
"""
from __future__ import annotations

import csv
import io
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
                       reason="Debian's chromium is not installed at /usr/bin/chromium "
                       "(apt-get install chromium); .ci/run installs it"),
]
# Skipped only where playwright is not installed (it is in the `test` extra); an installed but
# broken playwright fails here instead of skipping.
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed (pip install -e '.[test]')")

CLASSES = ["daphnia", "dinobryon", "keratella_quadrata", "asterionella"]
PER_CLASS = 5
TAXA_CSV = "name,rank,parent,aphia_id\nZooplankton,,,\n" + "".join(
    f"{name},species,Zooplankton,\n" for name in CLASSES)


@pytest.fixture(scope="module")
def system(shared_data: Path, tmp_path_factory):
    """The running system with 20 unlabelled images and the taxa of their classes: (url, key, truth)."""
    data_dir = tmp_path_factory.mktemp("nauplius-browser")
    folder = data_dir / "input"
    truth: dict[str, str] = {}
    for name in CLASSES:
        for source in sorted((shared_data / "zoolake" / name).iterdir())[:PER_CLASS]:
            (folder / name).mkdir(parents=True, exist_ok=True)
            (folder / name / source.name).symlink_to(source)
            truth[source.name] = name
    with running_stack(data_dir, "nauplius_browser") as stack:
        url, key = stack.services["gateway"].url, stack.api_key
        report = ingest([folder], url, progress=False, api_key=key)
        assert (report.stored, report.errors) == (len(truth), [])
        with httpx.Client(base_url=url, headers=gateway_headers(key)) as api:
            api.post("/api/v1/taxa/import", content=TAXA_CSV,
                     headers={"Content-Type": "text/csv"}).raise_for_status()
        yield url, key, truth


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


def counter(page) -> tuple[int, int]:
    return (int(page.locator("#count-validated").inner_text()),
            int(page.locator("#count-remaining").inner_text()))


def test_sign_in_filter_select_similar_assign_and_export(system, browser, tmp_path):
    url, key, truth = system
    expect = sync_api.expect
    context = browser.new_context(base_url=url, viewport={"width": 1440, "height": 900},
                                  accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    shots = Shots(page)

    # Sign in: a wrong key is refused by name, the real one opens the grid.
    page.goto("/")
    expect(page.locator("#signin")).to_be_visible()
    page.fill("#signin-key", "not-a-key")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-status")).to_contain_text("unknown or revoked API key")
    page.fill("#signin-key", key)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin")).to_be_hidden()
    expect(page.locator("#grid .tile")).to_have_count(len(truth))
    expect(page.locator("#who")).to_contain_text("admin")
    # Thumbnails load through the key cookie (an <img> cannot send the header).
    page.wait_for_function("Array.from(document.querySelectorAll('#grid .tile img'))"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    assert counter(page) == (0, len(truth))
    assert page.evaluate("localStorage.getItem('nauplius.apiKey')") == key
    shots.take("1-signed-in")

    # Filter: only unlabelled images (all of them), then select one daphnia image and find its look-alikes.
    page.select_option("#filter-state", "unlabelled")
    expect(page.locator("#grid .tile")).to_have_count(len(truth))
    with httpx.Client(base_url=url, headers=gateway_headers(key)) as api:
        images = api.get("/api/v1/images", params={"limit": 100}).json()["data"]
    by_id = {image["id"]: truth[image["filename"]] for image in images}
    example = next(i for i, name in by_id.items() if name == "daphnia")
    page.click(f"#grid .tile[data-id='{example}']")
    expect(page.locator("#panel-image")).to_have_attribute("src", f"/api/v1/images/{example}/file")
    expect(page.locator("#similar li button")).to_have_count(12)
    expect(page.locator("#selected-count")).to_have_text("1")
    page.keyboard.press("s")
    expect(page.locator("#mode")).to_contain_text("Similar to 1 image")
    tiles = page.locator("#grid .tile")
    expect(tiles).to_have_count(len(truth) - 1)
    assert example not in [int(t) for t in tiles.evaluate_all("ts => ts.map(t => t.dataset.id)")]
    shots.take("2-similar")

    # Select the three most similar (click, shift-click) plus the example's own look-alike page is
    # ranked: assign them to the taxon picked from the autocomplete.
    tiles.nth(0).click()
    tiles.nth(2).click(modifiers=["Shift"])
    expect(page.locator("#selected-count")).to_have_text("3")
    chosen = [int(t) for t in
              page.locator("#grid .tile.selected").evaluate_all("ts => ts.map(t => t.dataset.id)")]
    page.fill("#batch-taxon", "daph")
    expect(page.locator("#batch-taxon-options li")).to_have_count(1)
    shots.take("3-picker")
    page.click("#batch-taxon-options li")
    expect(page.locator("#batch-taxon")).to_have_value("daphnia")
    page.click("#batch-assign")
    expect(page.locator("#count-validated")).to_have_text("3")
    expect(page.locator("#count-remaining")).to_have_text(str(len(truth) - 3))
    for image_id in chosen:
        tile = page.locator(f"#grid .tile[data-id='{image_id}']")
        expect(tile).to_have_attribute("data-state", "validated")
    shots.take("4-assigned")

    with httpx.Client(base_url=url, headers=gateway_headers(key)) as api:
        for image_id in chosen:
            image = api.get(f"/api/v1/images/{image_id}").json()
            assert (image["label"], image["label_state"]) == ("daphnia", "validated")

    # History shows who changed what; reverting one change moves the counter back.
    expect(page.locator("#history li")).to_have_count(1)
    expect(page.locator("#history li").first).to_contain_text("no taxon (unlabelled) → daphnia (validated)")
    page.click("#history li .revert")
    expect(page.locator("#count-validated")).to_have_text("2")
    expect(page.locator("#history li")).to_have_count(2)

    # The help overlay lists the shortcuts; Escape closes it.
    page.locator("#grid .tile").first.focus()
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    shots.take("5-help")
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()

    # Back to the list, validated only: the two images still validated.
    page.click("#back-to-browse")
    page.select_option("#filter-state", "validated")
    expect(page.locator("#grid .tile")).to_have_count(2)
    shots.take("6-validated")

    # Export: the CSV download holds exactly the validated images.
    with page.expect_download() as download_info:
        page.click("#export-csv")
    target = tmp_path / "export.csv"
    download_info.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 2
    assert {row["taxon"] for row in rows} == {"daphnia"}
    with page.expect_download() as download_info:
        page.click("#export-ecotaxa")
    assert download_info.value.suggested_filename.endswith(".tsv")

    assert errors == []
    context.close()



def test_more_like_these_not_like_those(system, browser):
    """In similar mode: mark an image "not like this" (n) and another "more like this" (its +),
    Refine (r): the banner says "Like 2, not like 1", the negative leaves the page and its class
    moves down; clear goes back to the one example."""
    url, key, truth = system
    expect = sync_api.expect
    context = browser.new_context(base_url=url, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    shots = Shots(page)
    page.goto("/")
    page.fill("#signin-key", key)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#grid .tile")).to_have_count(len(truth))
    with httpx.Client(base_url=url, headers=gateway_headers(key)) as api:
        images = api.get("/api/v1/images", params={"limit": 100}).json()["data"]
    by_id = {image["id"]: truth[image["filename"]] for image in images}
    example = next(i for i, name in by_id.items() if name == "daphnia")
    page.click(f"#grid .tile[data-id='{example}']")
    page.keyboard.press("s")
    expect(page.locator("#similar-banner")).to_have_text("Similar to 1 image")
    tiles = page.locator("#grid .tile")
    expect(tiles).to_have_count(len(truth) - 1)

    def shown() -> list[int]:
        return [int(t) for t in tiles.evaluate_all("ts => ts.map(t => t.dataset.id)")]

    before = shown()
    negative = next(i for i in before if by_id[i] != "daphnia")  # the best-ranked wrong image
    positive = next(i for i in before if by_id[i] == "daphnia")
    page.click(f"#grid .tile[data-id='{negative}']")
    page.keyboard.press("n")
    expect(page.locator(f"#grid .tile[data-id='{negative}']")).to_contain_class("marked-not")
    page.click(f"#grid .tile[data-id='{positive}'] .mark-more")
    expect(page.locator(f"#grid .tile[data-id='{positive}']")).to_contain_class("marked-more")
    expect(page.locator("#refine")).to_have_text("Refine (2 marked)")
    shots.take("7-marked")

    page.keyboard.press("r")
    expect(page.locator("#similar-banner")).to_have_text("Like 2, not like 1")
    expect(tiles).to_have_count(len(truth) - 3)
    after = shown()
    assert negative not in after and positive not in after and after != before
    wrong_class = by_id[negative]

    def mean_rank(ranked: list[int]) -> float:
        ranks = [r for r, i in enumerate(ranked) if by_id[i] == wrong_class and i != negative]
        return sum(ranks) / len(ranks)

    # The negative's class drops (ranks counted over the images both pages show).
    common = [i for i in before if i in after]
    assert mean_rank([i for i in after if i in common]) > mean_rank(common)
    shots.take("8-refined")

    page.click("#clear-refinement")
    expect(page.locator("#similar-banner")).to_have_text("Similar to 1 image")
    expect(tiles).to_have_count(len(truth) - 1)
    assert errors == []
    context.close()
