"""A full-page PNG of the loaded page."""

from __future__ import annotations

from extractors.base import Extractor, ExtractorOutput, Kind, OutputFile
from extractors.engine.page import LoadedPage


class ScreenshotExtractor(Extractor):
    name = "screenshot"
    kind = Kind.page_bound
    html_only = True
    output = "`screenshot.png`: the full page"

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        path = page.out_dir / "screenshot.png"
        await page.page.screenshot(path=str(path), full_page=True, type="png", timeout=30_000)
        page.screenshot_path = path
        return ExtractorOutput(
            status="succeeded",
            output_str="screenshot.png",
            files=[OutputFile("screenshot.png", path, "image/png")],
            cmd_version=f"Chromium {page.browser_version}",
        )
