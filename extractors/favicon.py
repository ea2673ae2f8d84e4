"""The site's favicon bytes: the page's <link rel=icon>, else /favicon.ico.

Headless Chromium does not fetch favicons itself, so this makes one request
(through the same allow-list) and adds it to the recorder so the WARC has it.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import urljoin

from playwright.async_api import Error as PlaywrightError

from crawler.clock import utcnow
from crawler.errors import FetchRefused
from crawler.urls import check_fetch_allowed
from extractors.base import Extractor, ExtractorOutput, Kind, OutputFile, skipped
from extractors.engine.page import LoadedPage
from extractors.engine.recorder import Exchange, HttpResponse

MAX_FAVICON = 2 * 1024 * 1024


class FaviconExtractor(Extractor):
    name = "favicon"
    kind = Kind.free
    html_only = True
    output = (
        "`favicon.<ext>`: `<link rel=icon>` or `/favicon.ico`, fetched through the same "
        "allow-list and added to the WARC; `skipped` when the site has none"
    )

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        href = (await page.facts())["icon"] or urljoin(page.final_url, "/favicon.ico")
        if href.startswith("data:"):
            return skipped("favicon is an inline data: URL (kept in the DOM)")
        existing = next(
            (
                e
                for e in page.recorder.exchanges
                if e.url == href
                and e.response is not None
                and e.response.status < 400
                and e.response.body_path is not None
            ),
            None,
        )
        if existing is not None and existing.response is not None:
            assert existing.response.body_path is not None
            return self._output(existing.response.body_path, existing.response.mimetype, href)
        try:
            check_fetch_allowed(href, page.request.allowed_networks)
        except FetchRefused as exc:
            return skipped(f"favicon refused: {exc.message}")
        started = utcnow()
        try:
            response = await page.context.request.get(href, timeout=8000, max_redirects=3)
            body = await response.body()
        except PlaywrightError as exc:
            return skipped(f"favicon could not be fetched: {str(exc).splitlines()[0]}")
        if response.status >= 400 or not body:
            return skipped(f"site has no favicon ({response.status} at {href})")
        if len(body) > MAX_FAVICON:
            return skipped("favicon larger than 2 MiB")
        spooled = page.recorder.spool(body)
        content_type = response.headers.get("content-type", "")
        page.recorder.add_exchange(
            Exchange(
                request_id=f"favicon-{started.timestamp()}",
                url=response.url,
                method="GET",
                request_headers=[("Accept", "image/*")],
                post_data=None,
                started_at=started,
                resource_type="Favicon",
                response=HttpResponse(
                    status=response.status,
                    reason=response.status_text,
                    protocol="HTTP/1.1",
                    headers=[(h["name"], h["value"]) for h in response.headers_array],
                    mimetype=content_type,
                    body_path=spooled,
                ),
                finished=True,
            )
        )
        return self._output(spooled, content_type, href)

    @staticmethod
    def _output(path: Path, content_type: str, href: str) -> ExtractorOutput:
        mimetype = (content_type or "").split(";")[0].strip() or (
            mimetypes.guess_type(href)[0] or "image/x-icon"
        )
        extension = mimetypes.guess_extension(mimetype) or ".ico"
        if mimetype in ("image/x-icon", "image/vnd.microsoft.icon"):
            extension = ".ico"
        name = f"favicon{extension}"
        return ExtractorOutput(
            status="succeeded",
            output_str=href,
            files=[OutputFile(name, path, mimetype)],
        )
