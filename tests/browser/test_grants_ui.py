"""The projects and grants dialog of the frontend in a real headless Chromium against the real
system (its processes, a fresh PostgreSQL database, auth on): an admin creates a closed project,
grants an institution, revokes it; a person without the admin role never sees the dialog."""
from __future__ import annotations

import httpx
import pytest

from nauplius.core.contracts.gateway import gateway_headers
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
def system(tmp_path_factory):
    """(gateway url, admin key, an annotator's key) of a running system with one person of X-Lab."""
    with running_stack(tmp_path_factory.mktemp("nauplius-grants"), "nauplius_grants_ui") as stack:
        url, key = stack.services["gateway"].url, stack.api_key
        with httpx.Client(base_url=url, headers=gateway_headers(key)) as api:
            person = api.post("/api/v1/annotators", json={"name": "Xavier", "institution": "X-Lab"})
            made = api.post("/api/v1/api-keys", json={"annotator_id": person.json()["id"],
                                                      "role": "annotator"})
            made.raise_for_status()
        yield url, key, made.json()["key"]


def _signed_in(browser, url: str, key: str):
    page = browser.new_context(base_url=url, viewport={"width": 1280, "height": 860}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/")
    page.fill("#signin-key", key)
    page.click("#signin-form button[type=submit]")
    sync_api.expect(page.locator("#signin")).to_be_hidden()
    return page, errors


def test_an_admin_grants_and_revokes_in_the_projects_dialog(system):
    url, admin_key, annotator_key = system
    expect = sync_api.expect
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page, errors = _signed_in(browser, url, admin_key)
            page.click("#show-projects")
            expect(page.locator("#projects")).to_be_visible()
            # The default project keeps the grant every project had before grants.
            expect(page.locator("#grants-list")).to_contain_text("everyone")
            expect(page.locator("#grants-list")).to_contain_text("their key's role")

            page.fill("#project-name", "lake-q")
            page.uncheck("#project-open")
            page.click("#project-form button[type=submit]")
            expect(page.locator("#grants-status")).to_contain_text("project lake-q created")
            expect(page.locator("#grants-list")).to_contain_text("only admins see this project")

            page.fill("#grant-institution", "X-Lab")
            page.select_option("#grant-role", "viewer")
            page.click("#grant-form button[type=submit]")
            expect(page.locator("#grants-status")).to_contain_text("X-Lab (institution) is now viewer")
            expect(page.locator("#grants-list tr")).to_have_count(1)
            with httpx.Client(base_url=url, headers=gateway_headers(annotator_key)) as api:
                seen = {p["name"]: p["role"] for p in api.get("/api/v1/projects").json()["data"]}
            assert seen == {"default": "annotator", "lake-q": "viewer"}

            page.click("#grants-list .revoke-grant")
            expect(page.locator("#grants-status")).to_contain_text("grant revoked")
            expect(page.locator("#grants-list")).to_contain_text("only admins see this project")
            with httpx.Client(base_url=url, headers=gateway_headers(annotator_key)) as api:
                seen = {p["name"] for p in api.get("/api/v1/projects").json()["data"]}
            assert seen == {"default"}
            page.keyboard.press("Escape")
            expect(page.locator("#projects")).to_be_hidden()
            assert errors == []

            person, person_errors = _signed_in(browser, url, annotator_key)
            expect(person.locator("#who")).to_contain_text("annotator")
            expect(person.locator("#show-projects")).to_be_hidden()
            assert person_errors == []
        finally:
            browser.close()
