"""Readable main text via trafilatura (falling back to innerText), or a document's own text.

A PDF's text comes from pypdf, a plain-text, CSV or JSON URL's from its bytes,
so every document a snapshot holds is searchable, not only web pages. Text
rendered in open shadow roots and in iframes is appended, so search finds it.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from pathlib import Path

from extractors.base import Extractor, ExtractorOutput, Kind, OutputFile, Role, skipped
from extractors.engine.page import LoadedPage

TRAFILATURA_VERSION = version("trafilatura")
PYPDF_VERSION = version("pypdf")
MAX_PDF_PAGES = 2000
TEXT_TYPES = ("application/json", "application/xml", "application/csv", "application/ld+json")


class TextExtractor(Extractor):
    name = "text"
    kind = Kind.free
    output = (
        "`text.txt`: readable main text (trafilatura, falling back to `innerText`); for a PDF "
        "its text (pypdf), for plain text, CSV or JSON the document itself"
    )
    roles = frozenset({Role.search_text})

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        if not page.is_html:
            return await self._document(page)
        import trafilatura  # ~0.6 s to import: loaded when first needed (registry.preload)

        html = await page.html()
        text = await asyncio.to_thread(
            trafilatura.extract,
            html,
            url=page.final_url,
            include_comments=False,
            include_tables=True,
            favor_recall=True,
            # No second opinion from jusText/readability: on every page it cost about as
            # much CPU as the rest of the text extraction, and an empty result falls back
            # to innerText below anyway.
            fast=True,
        )
        if not text:
            text = str(
                await page.page.evaluate("() => document.body ? document.body.innerText : ''")
            )
        text = (text or "").strip()
        extra = [
            part for part in (await page.extra_text()).split("\n\n") if part and part not in text
        ]
        text = "\n\n".join([text, *extra]).strip()
        if not text:
            return skipped("page has no readable text")
        return _text_output(page, text, f"trafilatura {TRAFILATURA_VERSION}")

    async def _document(self, page: LoadedPage) -> ExtractorOutput:
        source = page.download_path or (
            page.main_response.body_path if page.main_response else None
        )
        if source is None:
            return skipped(f"no body was recorded ({page.mimetype})")
        text, tool = await asyncio.to_thread(document_text, source, page.mimetype)
        if text is None:
            return skipped(f"no text extractor for {page.mimetype}")
        text = text.strip()
        if not text:
            return skipped("document has no text")
        return _text_output(page, text, tool)


def document_text(path: Path, mimetype: str) -> tuple[str | None, str]:
    """The text of a non-HTML document and the tool that read it (None: not a text format)."""
    from charset_normalizer import from_path
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    with path.open("rb") as handle:
        magic = handle.read(5)
    if mimetype == "application/pdf" or magic == b"%PDF-":
        try:
            reader = PdfReader(path)
            pages = [page.extract_text() or "" for page in reader.pages[:MAX_PDF_PAGES]]
        except (PdfReadError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"unreadable PDF: {exc}") from exc
        return "\n\n".join(pages), f"pypdf {PYPDF_VERSION}"
    if mimetype.startswith("text/") or mimetype in TEXT_TYPES:
        best = from_path(path).best()
        return (str(best) if best is not None else ""), "charset-normalizer"
    return None, ""


def _text_output(page: LoadedPage, text: str, tool: str) -> ExtractorOutput:
    """`text.txt`, whichever way the text was read."""
    path = page.out_dir / "text.txt"
    path.write_text(text, encoding="utf-8")
    return ExtractorOutput(
        status="succeeded",
        output_str=text[:200],
        files=[OutputFile("text.txt", path, "text/plain; charset=utf-8")],
        cmd_version=tool,
    )
