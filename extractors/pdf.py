"""The page printed to PDF (after the screenshot, since print media re-lays out the page)."""

from __future__ import annotations

from extractors.base import ExtractorOutput, OutputFile, skipped
from extractors.engine.page import LoadedPage


class PdfExtractor:
    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        if not page.is_html:
            return skipped("pdf", f"not HTML ({page.mimetype}); the original is in the warc")
        path = page.out_dir / "output.pdf"
        await page.page.pdf(path=str(path), print_background=True)
        return ExtractorOutput(
            plugin="pdf",
            status="succeeded",
            output_str="output.pdf",
            files=[OutputFile("output.pdf", path, "application/pdf")],
            cmd_version=f"Chromium {page.browser_version}",
        )
