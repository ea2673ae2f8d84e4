"""The WARC of the capture: every exchange the page made, and the original of a non-HTML URL."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from extractors.base import Extractor, ExtractorOutput, Kind, OutputFile
from extractors.engine.page import LoadedPage
from extractors.engine.persona import redacted
from extractors.engine.warc import WARC_PATH, WARCIO_VERSION, write_warc


class WarcExtractor(Extractor):
    name = "warc"
    kind = Kind.last
    output = (
        "`warc/capture.warc.gz` (+ `original/<name>` for non-HTML URLs): WARC/1.1, one gzip "
        "member per record: `warcinfo`, then a `request` and a `response` for the document and "
        "every sub-resource (CSS, images, fonts, scripts, fetch/XHR, iframes, lazy images, "
        "responsive candidates), each redirect hop its own 3xx `response`, each response "
        "before its request; `metadata` records list WebSocket frames and refused requests"
    )

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        path = page.out_dir / "capture.warc.gz"
        exchanges = list(page.recorder.exchanges)
        if page.request.storage_state:  # a persona's login stays out of the archive
            exchanges = [redacted(exchange) for exchange in exchanges]
        # Compressing a large page takes a while: keep it off the loop other captures share.
        written = await asyncio.to_thread(
            write_warc,
            path,
            page.request.url,
            page.browser_version,
            exchanges,
            list(page.recorder.blocked),
            list(page.recorder.websockets.values()),
        )
        files = [OutputFile(WARC_PATH, path, "application/warc")]
        original = page.download_path or (
            page.main_response.body_path if page.main_response and not page.is_html else None
        )
        if original is not None:
            name = urlsplit(page.final_url).path.rsplit("/", 1)[-1] or "download"
            files.append(OutputFile(f"original/{name}", original, page.mimetype))
        note = f"{written} responses"
        if page.recorder.blocked:
            note += f", {len(page.recorder.blocked)} blocked requests"
        return ExtractorOutput(
            status="succeeded",
            files=files,
            output_str=note,
            cmd_version=f"warcio {WARCIO_VERSION}",
        )
