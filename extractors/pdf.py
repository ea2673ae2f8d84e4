"""The page printed to PDF (after the screenshot, since print media re-lays out the page)."""

from __future__ import annotations

from extractors.base import Extractor, ExtractorOutput, Kind, OutputFile, skipped
from extractors.engine.page import LoadedPage


class PdfExtractor(Extractor):
    name = "pdf"
    kind = Kind.page_bound
    output = "`output.pdf`: the page printed to PDF"

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        if not page.is_html:
            return skipped(f"not HTML ({page.mimetype}); the original is in the warc")
        path = page.out_dir / "output.pdf"
        await page.page.pdf(path=str(path), print_background=True)
        return ExtractorOutput(
            status="succeeded",
            output_str="output.pdf",
            files=[OutputFile("output.pdf", path, "application/pdf")],
            cmd_version=f"Chromium {page.browser_version}",
        )
