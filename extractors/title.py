"""The page title as the browser decoded it (so a windows-1252 page comes out right)."""

from __future__ import annotations

from extractors.base import Extractor, ExtractorOutput, Kind, Role, skipped
from extractors.engine.page import LoadedPage


class TitleExtractor(Extractor):
    name = "title"
    kind = Kind.free
    html_only = True
    output = (
        "(output_str) the page title as the browser decoded it, "
        "so a windows-1252 page comes out right"
    )
    roles = frozenset({Role.page_title})

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        facts = await page.facts()
        title = facts["title"].strip() or " ".join(facts["heading"].split())
        if not title:
            return skipped("page has no title")
        return ExtractorOutput(
            status="succeeded",
            output_str=title[:1000],
            cmd_version=f"Chromium {page.browser_version}",
        )
