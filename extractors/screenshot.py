"""A full-page PNG of the loaded page."""

from __future__ import annotations

from extractors.base import ExtractorOutput, OutputFile, skipped
from extractors.engine.page import LoadedPage


class ScreenshotExtractor:
    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        if not page.is_html:
            return skipped("screenshot", f"not HTML ({page.mimetype})")
        path = page.out_dir / "screenshot.png"
        await page.page.screenshot(path=str(path), full_page=True, type="png", timeout=30_000)
        return ExtractorOutput(
            plugin="screenshot",
            status="succeeded",
            output_str="screenshot.png",
            files=[OutputFile("screenshot.png", path, "image/png")],
            cmd_version=f"Chromium {page.browser_version}",
        )
