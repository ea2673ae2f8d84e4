"""The web UI in real Chromium, at desktop and phone sizes: one person's day with it.

Sign in with a password, add URLs, upload bookmarks and follow the import, filter,
search, open a snapshot, edit its tags, re-archive, bulk-tag and bulk-delete, sign
out; and a page on another origin that posts a form to Amber is refused.
Screenshots of each step go to ``test-artifacts/web-ui/`` (git-ignored).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, FilePayload, Page, sync_playwright

from crawler.settings import load_settings
from extractors import thumbnail
from extractors.engine.browser import CHROMIUM_FLAGS
from tests.conftest import ADMIN_PASSWORD, ADMIN_TOKEN, amber_env
from tests.services import AmberServer
from tests.site import SiteHandler, TestSite

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "web-ui"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=load_settings().chromium_executable(), args=list(CHROMIUM_FLAGS)
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AmberServer]:
    """Its own server, so bulk actions touch only this test's snapshots; a roomy capture
    budget, so a busy machine does not turn slow captures into failures."""
    data_dir = tmp_path_factory.mktemp("web-ui")
    server = AmberServer(env=amber_env(data_dir, AMBER_CAPTURE_TIMEOUT="60")).start()
    yield server
    server.stop()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(browser: Browser, base: str, viewport: dict[str, int]) -> Page:
    page = browser.new_context(viewport=viewport).new_page()  # type: ignore[arg-type]
    page.goto(f"{base}/")
    assert page.url.startswith(f"{base}/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    return page


def settle(api: httpx.Client, tag: str, expected: int, timeout: float = 150) -> list[Any]:
    """The tag's snapshots once `expected` of them exist and none is still in flight."""
    deadline = time.monotonic() + timeout
    while True:
        items = api.get("/api/v1/core/snapshots", params={"tag": tag, "limit": 50}).json()["items"]
        if len(items) >= expected and all(i["status"] in ("succeeded", "failed") for i in items):
            return list(items)
        assert time.monotonic() < deadline, [(i["url"], i["status"]) for i in items]
        time.sleep(0.5)


def fits(page: Page) -> bool:
    """Nothing wider than the viewport (no sideways scrolling on a phone)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def broken_across_lines(page: Page, selector: str) -> list[str]:
    """The texts of `selector`'s elements whose words are split over more than one line
    (an output's name broken mid-word, a tag chip cut in two)."""
    return list(
        page.evaluate(
            """(selector) => [...document.querySelectorAll(selector)].filter((e) => {
                const range = document.createRange();
                range.selectNodeContents(e);
                const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
                return tops.size > 1;
            }).map((e) => e.textContent)""",
            selector,
        )
    )


def test_a_day_with_the_web_ui(browser: Browser, ui_server: AmberServer, site: TestSite) -> None:
    base = ui_server.url
    tag = f"e2e{uuid.uuid4().hex[:6]}"
    api = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    )
    # Light pages: captures must fit their budget on a busy machine
    rich, final = site.url(f"/final.html?{tag}"), site.url(f"/cp1252.html?{tag}")
    refused = f"http://10.255.255.1/{tag}"  # outside the allowed networks: fails at once

    # Given a person signed in with a password on a desktop browser
    page = sign_in(browser, base, DESKTOP)
    assert page.locator('meta[name="viewport"]').count() == 1

    # When they add two URLs with a tag
    page.get_by_role("link", name="Add", exact=True).click()
    page.get_by_label("URLs, one a line").fill(f"{rich}\n{final}")
    page.get_by_label("Tags (comma-separated)").fill(tag)
    page.get_by_role("button", name="Add", exact=True).click()
    # Then the page confirms what was stored
    assert "2 URLs stored" in page.locator("#stdout").inner_text()
    shot(page, "desktop-1-added")
    # (with room between that box and the form below it)
    gap = page.evaluate(
        "(() => { const box = document.querySelector('.notice');"
        " return box.nextElementSibling.getBoundingClientRect().top"
        " - box.getBoundingClientRect().bottom; })()"
    )
    assert gap >= 8, gap

    # When they upload a bookmarks file in one tab and close it at once
    bookmarks = (
        "<!DOCTYPE NETSCAPE-Bookmark-file-1><DL><p>"
        f'<DT><A HREF="{refused}" ADD_DATE="1700000000">Refused</A>'
        f'<DT><A HREF="{site.url(f"/final.html?{tag}-imported")}">Again</A></DL>'
    ).encode()
    upload = page.context.new_page()
    upload.goto(f"{base}/import")
    upload.get_by_label("File").set_input_files(
        files=[FilePayload(name="bookmarks.html", mimeType="text/html", buffer=bookmarks)]
    )
    upload.get_by_label("Tags for every entry").fill(tag)
    upload.get_by_role("button", name="Upload and import").click()
    upload.wait_for_url(f"{base}/imports/*")
    progress_url = upload.url
    upload.close()
    # Then the import page, opened again, shows it finished (it ran without the tab)
    page.goto(progress_url)
    page.locator(".jobstate").filter(has_text="succeeded").wait_for(timeout=60_000)
    assert page.locator(".n-imported").inner_text() == "2"
    bar = page.locator("progress")
    assert bar.get_attribute("value") == bar.get_attribute("max")
    # And its progress stream speaks server-sent events
    events = page.request.get(f"{progress_url}/events")
    assert events.headers["content-type"].startswith("text/event-stream")
    assert "event: progress" in events.text() and "event: done" in events.text()
    shot(page, "desktop-2-imported")

    items = settle(api, tag, 4)
    by_url = {i["url"]: i for i in items}
    assert by_url[refused]["status"] == "failed"
    assert by_url[rich]["status"] == "succeeded", api.get(
        f"/api/v1/core/snapshot/{by_url[rich]['id']}"
    ).text

    # When they filter by tag and status
    page.goto(f"{base}/?tag={tag}&status=failed")
    assert page.locator(".count").inner_text().startswith("1 snapshot")
    page.get_by_role("link", name="Refused").click()
    # Then the failed snapshot says why once, and offers no dead links
    assert page.get_by_role("alert").count() == 1
    reason = page.get_by_role("alert").inner_text().split(":", 1)[1].strip()
    assert "10.255.255.1" in reason and page.locator("main").inner_text().count(reason) == 1
    assert page.locator("a[href^='/web/'], a[download]").count() == 0
    shot(page, "desktop-3-failed")

    # When they search the text, Then matches are highlighted in the snippet
    page.goto(f"{base}/?tag={tag}")
    page.get_by_role("searchbox", name="Search").fill("arrived")
    page.get_by_role("button", name="Search", exact=True).click()
    assert page.locator(".count").inner_text().startswith("2 snapshots")
    assert page.locator(".snippet mark").first.inner_text().lower() == "arrived"
    # And the card shows the page's thumbnail (a small WebP, not the screenshot)
    thumb = page.locator(".card .thumb img").first
    assert str(thumb.get_attribute("src")).endswith("thumbnail.webp")
    page.wait_for_function("document.querySelector('.card .thumb img').naturalWidth > 0")
    assert thumb.evaluate("img => img.naturalWidth") == thumbnail.WIDTH
    # And times are shown in the reader's time zone (the UTC text was replaced)
    assert "UTC" not in page.locator(".card time").first.inner_text()
    shot(page, "desktop-4-search")

    # When they open the snapshot
    page.get_by_role("link", name="Final Destination").first.click()
    snapshot_url = page.url
    rich_id = snapshot_url.rsplit("/", 1)[1]
    # Then it has the replay, screenshot, downloads, timeline and every output with its size
    replay = page.get_by_role("link", name="Replay the archived page").get_attribute("href")
    assert replay is not None and replay.startswith("/web/")
    page.wait_for_function("document.querySelector('img.shot').naturalWidth > 0")
    for name in ("Download WARC", "Download WACZ", "PDF", "Every capture of this URL", "Full size"):
        assert page.get_by_role("link", name=name, exact=True).count() == 1, name
    assert page.locator("#h-outputs + table tbody tr").count() >= 8
    wacz_href = page.get_by_role("link", name="Download WACZ").get_attribute("href")
    wacz = page.request.get(f"{base}{wacz_href}")
    assert wacz.ok and wacz.body()[:2] == b"PK"
    shot(page, "desktop-5-snapshot")

    # When they edit its tags, Then the new tag is a chip that filters
    page.get_by_label("Tags (comma-separated)").fill(f"{tag}, edited-{tag}")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("link", name=f"edited-{tag}").click()
    assert page.locator(".count").inner_text().startswith("1 snapshot")

    # When another site's page posts a form to Amber in the signed-in browser
    def evil(handler: SiteHandler) -> None:
        form = (
            f"<form id=f method=post action='{base}/bulk'>"
            f"<input name=action value=delete><input name=confirm value=yes>"
            f"<input name=id value='{rich_id}'></form>"
            "<script>document.getElementById('f').submit()</script>"
        )
        handler.send(200, form.encode(), "text/html")

    site.extra_routes["/evil.html"] = evil
    with page.expect_response(f"{base}/bulk") as attempt:
        page.goto(site.url("/evil.html"))
    # Then Amber refuses it and the snapshot is still there
    assert attempt.value.status == 403
    assert api.get(f"/api/v1/core/snapshot/{rich_id}").status_code == 200

    # When they re-archive it, Then a new capture of the URL starts
    page.goto(snapshot_url)
    page.get_by_role("button", name="Re-archive").click()
    page.wait_for_url(f"{base}/snapshot/*")
    assert page.url != snapshot_url
    assert page.locator(".meta .st-queued, .meta .st-started, .meta .st-succeeded").count() == 1

    # On a phone, the archive and a snapshot fit the screen
    phone = sign_in(browser, base, PHONE)
    phone.goto(f"{base}/?tag={tag}")
    shot(phone, "phone-1-archive")
    assert phone.locator(".card").count() >= 4 and fits(phone)
    assert broken_across_lines(phone, ".card .tag") == []
    phone.goto(snapshot_url)
    shot(phone, "phone-2-snapshot")
    assert fits(phone), phone.evaluate(
        "[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right"
        " > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + '.' + e.className)"
    )
    # And each output's name is whole on its line (not "behav / iours")
    outputs = "section[aria-labelledby=h-outputs] td:first-child"
    assert phone.locator(outputs).count() >= 10
    assert broken_across_lines(phone, outputs) == []
    assert broken_across_lines(phone, "section[aria-labelledby=h-outputs] th") == []
    phone.context.close()

    # When they bulk-tag every row of the list view
    settle(api, tag, 5)
    page.goto(f"{base}/?tag={tag}&view=list")
    rows = page.locator("table.rows tbody tr").count()
    assert rows == 5
    page.get_by_label("all on this page").check()
    page.get_by_label("Action").select_option("tag")
    page.get_by_label("Tag to add or remove").fill(f"bulk-{tag}")
    page.get_by_role("button", name="Apply to selected").click()
    page.goto(f"{base}/?tag=bulk-{tag}")
    assert page.locator(".card").count() == 5
    shot(page, "desktop-6-bulk-tagged")
    assert broken_across_lines(page, ".card .tag") == []  # three chips on a narrow card
    # And bulk-delete them, confirming on the next page
    page.get_by_label("all on this page").check()
    page.get_by_label("Action").select_option("delete")
    page.get_by_role("button", name="Apply to selected").click()
    page.get_by_role("button", name="Delete 5 snapshots").click()
    assert page.locator(".count").inner_text().startswith("0 snapshots")
    assert api.get("/api/v1/core/snapshots", params={"tag": tag}).json()["count"] == 0

    # When they sign out, Then the archive asks them to sign in again
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/login")
    page.goto(f"{base}/")
    assert page.url.startswith(f"{base}/login")
    page.context.close()
    api.close()
