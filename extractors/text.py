"""Readable main text via trafilatura, falling back to the body's innerText.

Text rendered in open shadow roots and in iframes is appended, so search finds it.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version

import trafilatura

from extractors.base import Extractor, ExtractorOutput, Kind, OutputFile, Role, skipped
from extractors.engine.page import LoadedPage

TRAFILATURA_VERSION = version("trafilatura")


class TextExtractor(Extractor):
    name = "text"
    kind = Kind.free
    html_only = True
    output = "`text.txt`: readable main text (trafilatura, falling back to `innerText`)"
    roles = frozenset({Role.search_text})

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        html = await page.html()
        text = await asyncio.to_thread(
            trafilatura.extract,
            html,
            url=page.final_url,
            include_comments=False,
            include_tables=True,
            favor_recall=True,
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
        path = page.out_dir / "text.txt"
        path.write_text(text, encoding="utf-8")
        return ExtractorOutput(
            status="succeeded",
            output_str=text[:200],
            files=[OutputFile("text.txt", path, "text/plain; charset=utf-8")],
            cmd_version=f"trafilatura {TRAFILATURA_VERSION}",
        )
