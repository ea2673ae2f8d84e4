"""Page behaviours on real Chromium: a consent banner is dismissed (rejected) before the outputs."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import async_playwright
from pypdf import PdfReader

from crawler.settings import load_settings
from extractors.behaviours import behaviours_for, discover, host_matches
from extractors.behaviours.wikipedia import BEHAVIOUR as WIKIPEDIA
from extractors.engine.browser import BrowserService
from extractors.engine.page import CaptureOutcome, CaptureRequest
from extractors.registry import EXTRACTORS
from tests.capture_pages import ARTICLE_TEXT, BANNER_TEXT, install
from tests.site import TestSite

ALLOWED = (ipaddress.ip_network("127.0.0.1/32"),)
MAGENTA = (255, 0, 255)


@pytest.fixture(scope="module")
def consented(site: TestSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaptureOutcome]:
    install(site)
    service = BrowserService(
        executable_path=load_settings().chromium_executable(), extractors=EXTRACTORS
    )
    service.start()
    try:
        yield service.capture(
            CaptureRequest(
                url=site.url("/consent.html"),
                plugins=tuple(EXTRACTORS),
                workdir=tmp_path_factory.mktemp("consent"),
                timeout=30,
                max_bytes=50_000_000,
                allowed_networks=ALLOWED,
            )
        )
    finally:
        service.stop()


def _file(outcome: CaptureOutcome, plugin: str) -> Path:
    return outcome.outputs[plugin].files[0].local_path


def test_consent_banner_is_rejected_before_any_output(consented: CaptureOutcome) -> None:
    # Given a page under a CookieYes banner and a full-page overlay, captured once
    outputs = consented.outputs
    assert outputs["behaviours"].status == "succeeded"
    # Then autoconsent's cookieyes rule fired and opted out, and the result names it
    assert "consent: cookieyes: opt-out" in outputs["behaviours"].output_str
    runs = json.loads(_file(consented, "behaviours").read_text())["behaviours"]
    assert {"name": "consent", "status": "done", "detail": "cookieyes: opt-out"} in runs
    # And the overlay is in none of the screenshot's pixels
    with Image.open(_file(consented, "screenshot")) as shot:
        pixels = list(shot.convert("RGB").getdata())
    assert MAGENTA not in pixels
    assert (255, 255, 255) in pixels
    # And neither the PDF nor the text has the banner, while both have the article
    pdf_text = " ".join(page.extract_text() for page in PdfReader(_file(consented, "pdf")).pages)
    assert "Amber resin" in pdf_text and "COOKIEBANNER" not in pdf_text
    text = _file(consented, "text").read_text()
    assert ARTICLE_TEXT in text and BANNER_TEXT not in text
    dom = _file(consented, "dom").read_text()
    assert BANNER_TEXT not in dom and ARTICLE_TEXT in dom


def test_behaviours_are_found_by_host_pattern() -> None:
    # Given the behaviours package, Then each module's behaviour is discovered
    names = {b.name for b in discover()}
    assert {"consent", "wikipedia"} <= names
    # And a site behaviour applies only to its hosts; consent applies everywhere
    assert host_matches("https://en.wikipedia.org/wiki/Amber", ("*.wikipedia.org",))
    assert host_matches("https://wikipedia.org/", ("*.wikipedia.org",))
    assert not host_matches("https://wikipedia.org.evil.test/", ("*.wikipedia.org",))
    assert [b.name for b in behaviours_for("https://example.com/")] == ["consent"]
    assert "wikipedia" in [b.name for b in behaviours_for("https://de.m.wikipedia.org/wiki/X")]


def test_wikipedia_behaviour_opens_collapsed_sections() -> None:
    # Given a page shaped like Wikipedia's mobile article with collapsed parts
    html = """<!doctype html><body>
      <h2 class="collapsible-heading">History</h2>
      <section class="collapsible-block" hidden><p id="history">Baltic amber</p></section>
      <div class="mw-collapsible mw-collapsed">
        <div style="display: none" id="nav">Navbox</div></div>
      <details><summary>More</summary><p id="more">Copal</p></details>
    </body>"""

    async def run() -> tuple[str | None, list[bool]]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=load_settings().chromium_executable()
            )
            page = await browser.new_page()
            await page.set_content(html)
            done = await WIKIPEDIA.run(page, "https://en.m.wikipedia.org/wiki/Amber")
            visible = [await page.is_visible(f"#{i}") for i in ("history", "nav", "more")]
            await browser.close()
            return done, visible

    # When the behaviour runs on it, Then every collapsed part is visible
    done, visible = asyncio.run(run())
    assert done == "opened 3 collapsed sections"
    assert visible == [True, True, True]
