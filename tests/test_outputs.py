"""The single-file copy and document text, from real captures through the pipeline."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from playwright.async_api import Route, async_playwright
from sqlmodel import Session, select

from crawler import db
from crawler import snapshots as snaps
from crawler.auth import ensure_user, principal_for_user
from crawler.db import open_store
from crawler.models import ArchiveResult
from crawler.settings import load_settings
from crawler.snapshot_query import SnapshotFilters, query_snapshots
from extractors import thumbnail
from extractors.engine.browser import CHROMIUM_FLAGS, BrowserService
from extractors.engine.capture import VIEWPORT
from extractors.registry import EXTRACTORS
from tests.capture_pages import PDF_WORD, install
from tests.site import TestSite
from workers.pipeline import run_capture
from workers.runtime import Runtime

USER = "reader"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("outputs"), allowed_networks="127.0.0.1/32"
    )
    engine, blobs = open_store(settings)
    browser = BrowserService(executable_path=settings.chromium_executable(), extractors=EXTRACTORS)
    yield Runtime(settings=settings, engine=engine, blobs=blobs, browser=browser)
    browser.stop()
    engine.dispose()


def capture(rt: Runtime, url: str) -> dict[str, ArchiveResult]:
    with db.session_scope(rt.engine) as session:
        principal = principal_for_user(session, ensure_user(session, USER))
        outcome = snaps.add_urls(session, principal=principal, entries=[snaps.UrlEntry(url=url)])
    snapshot_id = outcome.queued_ids[0]
    assert run_capture(rt, snapshot_id).status == "succeeded"
    with Session(rt.engine) as session:
        rows = session.exec(select(ArchiveResult).where(ArchiveResult.snapshot_id == snapshot_id))
        return {row.plugin: row for row in rows}


def blob(rt: Runtime, result: ArchiveResult) -> bytes:
    with rt.blobs.open(result.sha256 or "") as handle:
        return handle.read()


def similarity(a: Image.Image, b: Image.Image) -> float:
    """Share of pixels that match (each channel within 24), over the taller image's height."""
    width, height = min(a.width, b.width), min(a.height, b.height)
    diff = ImageChops.difference(
        a.convert("RGB").crop((0, 0, width, height)), b.convert("RGB").crop((0, 0, width, height))
    )
    red, green, blue = (band.point(lambda v: 255 if v > 24 else 0) for band in diff.split())
    same = ImageChops.lighter(ImageChops.lighter(red, green), blue).histogram()[0]
    return same / (width * height) * (height / max(a.height, b.height))


async def render_offline(path: Path) -> bytes:
    """A full-page screenshot of the file in Chromium, with every network request refused."""
    refused: list[str] = []

    async def refuse(route: Route) -> None:
        refused.append(route.request.url)
        await route.abort()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=load_settings().chromium_executable(), args=list(CHROMIUM_FLAGS)
        )
        context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        await context.route(re.compile(r"^(https?|wss?)://"), refuse)
        page = await context.new_page()
        await page.goto(path.as_uri(), wait_until="load")
        shot = await page.screenshot(full_page=True)
        await browser.close()
    assert refused == [], refused
    return shot


def test_singlefile_opens_offline_and_looks_like_the_screenshot(
    runtime: Runtime, site: TestSite, tmp_path: Path
) -> None:
    # Given the rich page (CSS, images, lazy images, an iframe, script-filled text) captured
    results = capture(runtime, site.url("/page.html?singlefile=1"))
    assert results["singlefile"].status == "succeeded"
    html = blob(runtime, results["singlefile"]).decode()
    # Then the single file holds no scripts and no links to fetch, and what scripts wrote
    assert "<script" not in html and "stylesheet" not in html
    assert "hello from the json endpoint" in html
    assert html.count("data:image/png;base64,") >= 3
    # When it is opened in a browser with the network blocked
    path = tmp_path / "copy.html"
    path.write_text(html, encoding="utf-8")
    offline = Image.open(io.BytesIO(asyncio.run(render_offline(path))))
    captured = Image.open(io.BytesIO(blob(runtime, results["screenshot"])))
    # Then it looks like the capture's screenshot
    score = similarity(offline, captured)
    print(f"singlefile vs screenshot similarity: {score:.3f}")
    assert score >= 0.9


def test_pdf_text_is_indexed_and_found_by_search(runtime: Runtime, site: TestSite) -> None:
    install(site)
    # Given a PDF URL captured
    results = capture(runtime, site.url("/docs/notes.pdf"))
    # Then its text was extracted from the document
    assert results["text"].status == "succeeded" and results["text"].cmd_version.startswith("pypdf")
    assert PDF_WORD in blob(runtime, results["text"]).decode()
    # And a search for a word inside it finds the snapshot
    with Session(runtime.engine) as session:
        principal = principal_for_user(session, ensure_user(session, USER))
        found, total = query_snapshots(
            session, principal, SnapshotFilters(search=PDF_WORD.lower()), limit=10, offset=0
        )
    assert total == 1 and found[0].url.endswith("/docs/notes.pdf")


def test_thumbnail_is_the_top_of_the_screenshot(runtime: Runtime, site: TestSite) -> None:
    # Given the rich page (taller than a screen) captured with every output
    results = capture(runtime, site.url("/page.html?thumbnail=1"))
    shot = Image.open(io.BytesIO(blob(runtime, results["screenshot"])))
    assert shot.height > 3 * VIEWPORT["height"]
    thumb = Image.open(io.BytesIO(blob(runtime, results["thumbnail"])))
    # Then the thumbnail is a card-sized WebP
    assert thumb.format == "WEBP"
    assert thumb.size == (thumbnail.WIDTH, thumbnail.HEIGHT)
    # And it is the top of the stored screenshot, decoded whole and shrunk the same way
    top = shot.convert("RGB").crop(
        (0, 0, shot.width, shot.width * thumbnail.HEIGHT // thumbnail.WIDTH)
    )
    expected = top.resize((thumbnail.WIDTH, thumbnail.HEIGHT), Image.Resampling.LANCZOS)
    assert similarity(thumb, expected) >= 0.95


def test_thumbnail_decodes_only_the_rows_it_needs(tmp_path: Path) -> None:
    # Given a tall PNG whose bottom differs from its top
    tall = Image.new("RGB", (1280, 20_000), "white")
    tall.paste((200, 30, 30), (0, 0, 1280, 400))
    tall.paste((0, 0, 0), (0, 5_000, 1280, 20_000))
    source = tmp_path / "tall.png"
    tall.save(source)
    # When only the top rows are decoded
    with Image.open(source) as image:
        thumbnail.top_rows(image, 800)
        image.load()
        assert image.size == (1280, 800)
        # Then they are the real top rows
        assert image.getpixel((10, 10)) == (200, 30, 30)
        assert image.getpixel((10, 799)) == (255, 255, 255)
    # And the shrunk card comes from them
    out = tmp_path / "thumb.webp"
    thumbnail.shrink(source, out)
    with Image.open(out) as card:
        assert card.size == (thumbnail.WIDTH, thumbnail.HEIGHT)
        pixel = card.convert("RGB").getpixel((120, 10))
        assert isinstance(pixel, tuple) and pixel[0] > 150 and pixel[1] < 80
