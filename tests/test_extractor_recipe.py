"""The "add an extractor" recipe of docs/contributing.md, followed by a throwaway extractor.

Step 1 of the recipe is one module: here, `LinkCountExtractor`. Step 2 is one
registry line, ``"tests.test_extractor_recipe:LinkCountExtractor"``, which this
test appends to the registry's own list rather than to extractors/registry.py,
so the extractor exists only here. Then a real capture runs through the real
pipeline, and its stored output is read back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from sqlmodel import Session, col, select

from crawler import db
from crawler import snapshots as snaps
from crawler.auth import ensure_user, principal_for_user
from crawler.db import open_store
from crawler.models import ArchiveResult
from crawler.settings import load_settings
from extractors.base import Extractor, ExtractorOutput, Kind, OutputFile
from extractors.engine.browser import BrowserService
from extractors.engine.page import LoadedPage
from extractors.registry import EXTRACTOR_CLASSES, EXTRACTORS, Registry
from tests.services import QUICK_SETTLE_SETTINGS
from tests.site import TestSite
from workers.pipeline import run_capture
from workers.runtime import Runtime


# Step 1: one module with one class (docs/contributing.md shows this very source).
class LinkCountExtractor(Extractor):
    name = "linkcount"
    kind = Kind.free
    html_only = True
    output = "`links.json`: how many elements of the loaded page link somewhere (`[href]`)"

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        count = int(await page.page.evaluate("() => document.querySelectorAll('[href]').length"))
        path = page.out_dir / "links.json"
        path.write_text(json.dumps({"links": count}), encoding="utf-8")
        return ExtractorOutput(
            status="succeeded",
            output_str=f"{count} links",
            files=[OutputFile("links.json", path, "application/json")],
        )


# Step 2: one line in the registry's list.
REGISTRY = Registry.load((*EXTRACTOR_CLASSES, "tests.test_extractor_recipe:LinkCountExtractor"))


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = load_settings(
        data_dir=tmp_path,
        allowed_networks="127.0.0.1/32",
        capture_timeout=15,
        **QUICK_SETTLE_SETTINGS,
    )
    engine, blobs = open_store(settings)
    browser = BrowserService(executable_path=settings.chromium_executable(), extractors=REGISTRY)
    yield Runtime(settings=settings, engine=engine, blobs=blobs, browser=browser)
    browser.stop()
    engine.dispose()


def test_a_new_extractor_is_one_module_and_one_line(runtime: Runtime, site: TestSite) -> None:
    # Given the registry with the throwaway extractor's line added
    assert list(REGISTRY) == [*EXTRACTORS, "linkcount"]
    with db.session_scope(runtime.engine) as session:
        principal = principal_for_user(session, ensure_user(session, "recipe"))
        added = snaps.add_urls(
            session, principal=principal, entries=[snaps.UrlEntry(url=site.url("/page.html"))]
        )
    snapshot_id = added.queued_ids[0]
    # When the pipeline captures a page
    assert run_capture(runtime, snapshot_id).status == "succeeded"
    # Then the new extractor's result is stored beside the others, its file in the blob store
    with Session(runtime.engine) as session:
        rows = session.exec(
            select(ArchiveResult).where(col(ArchiveResult.snapshot_id) == snapshot_id)
        ).all()
    results = {r.plugin: r for r in rows}
    assert set(results) == set(REGISTRY)
    assert {r.status for r in results.values()} == {"succeeded"}
    stored = json.loads(runtime.blobs.read(results["linkcount"].sha256 or ""))
    # And it counted what the stored DOM holds
    dom = runtime.blobs.read(results["dom"].sha256 or "")
    expected = len(BeautifulSoup(dom, "html.parser").select("[href]"))
    assert stored == {"links": expected} and expected > 0
    assert results["linkcount"].output_str == f"{expected} links"
    # And the docs' table, built from the registry, describes it
    assert "| `linkcount` | free | `links.json`: how many elements" in REGISTRY.markdown()


def test_the_registry_refuses_a_name_twice() -> None:
    # Given an extractor whose name is already taken, When it is registered, Then it is refused
    class Twin(LinkCountExtractor):
        name = "dom"

    with pytest.raises(ValueError, match="'dom'"):
        Registry([*EXTRACTORS.values(), Twin()])
    with pytest.raises(KeyError, match="linkcount"):
        EXTRACTORS.replacing(LinkCountExtractor())
