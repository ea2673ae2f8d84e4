"""The lazy scroll on real Chromium: paced for scroll listeners, quick where none listens."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import async_playwright

from crawler.settings import load_settings
from extractors.engine.browser import BRIEF_FLAGS
from extractors.engine.scroll import ScrollReport, lazy_scroll
from extractors.engine.settle import WATCH_JS
from tests.site import SiteHandler, TestSite

CHUNKS = 3
IMAGES = 4

# An infinite feed fed by an IntersectionObserver on a sentinel (no scroll listener): each
# chunk arrives 0.2 s after it is asked for, so the scroll must wait for the fetch.
OBSERVED_PAGE = (
    "<!doctype html><title>Observed feed</title><div id='feed'>"
    "<div style='height:1500px'>FEED-0</div></div><div id='sentinel' style='height:10px'></div>"
    "<script>let next = 1; new IntersectionObserver((entries) => {"
    f"  if (!entries.some((e) => e.isIntersecting) || next > {CHUNKS}) return;"
    "  fetch('/scroll/chunk.json?n=' + next++).then((r) => r.json()).then((d) => {"
    "    const div = document.createElement('div'); div.style.height = '1500px';"
    "    div.textContent = d.text; document.getElementById('feed').appendChild(div); });"
    "}).observe(document.getElementById('sentinel'));</script>"
)
# Images a scroll listener debounced by 250 ms asks for once they are in view.
LISTENED_PAGE = (
    "<!doctype html><title>Debounced</title>"
    + "".join(
        f"<div style='height:900px'><img class='lazy' data-src='/scroll/img-{i}.png' "
        "width='20' height='20'></div>"
        for i in range(IMAGES)
    )
    + "<script>let timer; const load = () => {"
    "  for (const img of document.querySelectorAll('img.lazy[data-src]')) {"
    "    const box = img.getBoundingClientRect();"
    "    if (box.top < innerHeight && box.bottom > 0) {"
    "      img.src = img.dataset.src; img.removeAttribute('data-src'); } } };"
    "addEventListener('scroll', () => { clearTimeout(timer); timer = setTimeout(load, 250); });"
    "</script>"
)


def _html(body: str):  # type: ignore[no-untyped-def]
    def serve(h: SiteHandler) -> None:
        h.send(200, body.encode(), "text/html; charset=utf-8")

    return serve


def _chunk(h: SiteHandler) -> None:
    n = parse_qs(urlsplit(h.path).query).get("n", ["0"])[0]
    time.sleep(0.2)
    h.send(200, json.dumps({"text": f"FEED-{n}"}).encode(), "application/json")


def _image(h: SiteHandler) -> None:
    h.send(200, b"", "image/png")


def _scroll(site: TestSite, path: str) -> tuple[ScrollReport, str]:
    async def run() -> tuple[ScrollReport, str]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=load_settings().chromium_executable(), args=list(BRIEF_FLAGS)
            )
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            await context.add_init_script(WATCH_JS)
            page = await context.new_page()
            await page.goto(site.url(path), wait_until="load")
            report = await lazy_scroll(page, pause=0.3, height=30_000, load_more=3, budget=20)
            await asyncio.sleep(0.5)  # what the last step asked for arrives
            content = await page.content()
            await browser.close()
            return report, content

    return asyncio.run(run())


def test_a_feed_no_listener_watches_scrolls_by_frames_and_still_gets_every_chunk(
    site: TestSite,
) -> None:
    # Given an infinite feed an IntersectionObserver fills, slowly, with no scroll listener
    site.extra_routes.update(
        {"/scroll/observed.html": _html(OBSERVED_PAGE), "/scroll/chunk.json": _chunk}
    )
    # When Amber's lazy scroll runs on it
    report, content = _scroll(site, "/scroll/observed.html")
    # Then it never paused for a listener, yet waited at the bottom for each chunk
    assert report.paced is False
    assert site.hits.get("/scroll/chunk.json") == CHUNKS
    assert all(f"FEED-{n}" in content for n in range(CHUNKS + 1))
    assert report.height >= 1500 * (CHUNKS + 1)


def test_a_debounced_scroll_listener_gets_the_paced_scroll(site: TestSite) -> None:
    # Given images a 250 ms debounced scroll listener loads once they are in view
    routes = {f"/scroll/img-{i}.png": _image for i in range(IMAGES)}
    site.extra_routes.update({"/scroll/listened.html": _html(LISTENED_PAGE), **routes})
    # When Amber's lazy scroll runs on it
    report, _ = _scroll(site, "/scroll/listened.html")
    # Then it paused for the listener, and every image was asked for
    assert report.paced is True
    assert [site.hits.get(f"/scroll/img-{i}.png") for i in range(IMAGES)] == [1] * IMAGES
