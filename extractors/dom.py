"""The serialised DOM after JS ran and after the auto-scroll."""

from __future__ import annotations

from extractors.base import Extractor, ExtractorOutput, Kind, OutputFile, Role
from extractors.engine.page import LoadedPage


class DomExtractor(Extractor):
    name = "dom"
    kind = Kind.free
    html_only = True
    output = "`dom.html`: the serialised DOM after scripts ran and after the scroll"
    roles = frozenset({Role.crawl_links})

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        html = await page.html()
        path = page.out_dir / "dom.html"
        path.write_text(html, encoding="utf-8")
        return ExtractorOutput(
            status="succeeded",
            output_str="dom.html",
            files=[OutputFile("dom.html", path, "text/html; charset=utf-8")],
            cmd_version=f"Chromium {page.browser_version}",
        )
