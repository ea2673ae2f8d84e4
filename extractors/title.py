"""The page title as the browser decoded it (so a windows-1252 page comes out right)."""

from __future__ import annotations

from extractors.base import ExtractorOutput, skipped
from extractors.page import LoadedPage

OG_TITLE_JS = """() => {
  const m = document.querySelector('meta[property="og:title"], meta[name="twitter:title"]');
  const h = document.querySelector('h1');
  return (m && m.content) || (h && h.textContent) || '';
}"""


class TitleExtractor:
    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        if not page.is_html:
            return skipped("title", f"not HTML ({page.mimetype})")
        title = (await page.page.title()).strip()
        if not title:
            title = " ".join(str(await page.page.evaluate(OG_TITLE_JS)).split())
        if not title:
            return skipped("title", "page has no title")
        return ExtractorOutput(
            plugin="title",
            status="succeeded",
            output_str=title[:1000],
            cmd_version=f"Chromium {page.browser_version}",
        )
