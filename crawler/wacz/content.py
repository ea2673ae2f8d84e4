"""A page's archived HTML, read from its WARC record, and the title and text in it.

The text is extracted with trafilatura as the capture's text extractor does
(`extractors/text.py`), falling back to all of the page's text.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from urllib.parse import urljoin

import lxml.html
import trafilatura
from bs4 import UnicodeDammit
from lxml import etree
from warcio.bufferedreaders import BufferedReader

from crawler.blobs import BlobStore
from crawler.wacz.pages import Page
from crawler.wacz.reader import HTML_TYPES
from crawler.wacz.records import nearest_capture
from crawler.warcindex import IndexEntry, WarcIndex, open_record

MAX_HTML_BYTES = 20 * 1024 * 1024
MAX_REDIRECTS = 5
TRAFILATURA_VERSION = version("trafilatura")

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Extracted:
    title: str | None = None
    text: str | None = None
    text_from: str = ""  # what the text came from (the page list, or trafilatura)
    html: str | None = None


def _charset(content_type: str) -> str | None:
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.IGNORECASE)
    return match.group(1) if match else None


def archived_html(
    blobs: BlobStore, sha256: str, index: WarcIndex, entry: IndexEntry | None, moment: datetime
) -> str | None:
    """The page's HTML as archived (redirects recorded in the WARC followed), decoded."""
    for _hop in range(MAX_REDIRECTS + 1):
        if entry is None or entry.record_type != "response":
            return None
        with open_record(blobs, sha256, entry) as record:
            headers = record.http_headers
            if entry.is_redirect:
                location = headers.get_header("Location") if headers else None
                if not location:
                    return None
                entry = nearest_capture(index, urljoin(entry.url, location), moment)
                continue
            mime = entry.mime.split(";")[0].strip().lower()
            if entry.status != 200 or mime not in HTML_TYPES or headers is None:
                return None
            encoding = (headers.get_header("Content-Encoding") or "identity").lower()
            if encoding not in ("identity", *BufferedReader.get_supported_decompressors()):
                return None  # warcio would hand back the still-encoded bytes
            data = record.content_stream().read(MAX_HTML_BYTES + 1)
            if len(data) > MAX_HTML_BYTES:
                return None
            charset = _charset(headers.get_header("Content-Type") or "")
            dammit = UnicodeDammit(data, [charset] if charset else [], is_html=True)
            return dammit.unicode_markup
    return None


def html_title(html: str) -> str | None:
    try:
        parser = lxml.html.HTMLParser(encoding="utf-8")
        doc = lxml.html.document_fromstring(html.encode("utf-8"), parser=parser)
    except (ValueError, etree.ParserError):
        return None
    title = " ".join((doc.findtext(".//title") or "").split())
    return title[:1000] or None


def html_text(html: str, url: str) -> str | None:
    text = trafilatura.extract(
        html, url=url, include_comments=False, include_tables=True, favor_recall=True
    )
    if not text:
        text = trafilatura.html2txt(html)
    return (text or "").strip() or None


def extract(
    blobs: BlobStore,
    sha256: str,
    index: WarcIndex,
    page: Page,
    entry: IndexEntry,
    moment: datetime,
) -> Extracted:
    """Title and text from the page list when it has them, else from the archived HTML."""
    out = Extracted(title=page.title, text=page.text, text_from="pages.jsonl" if page.text else "")
    try:
        out.html = archived_html(blobs, sha256, index, entry, moment)
    except Exception:  # noqa: BLE001
        # Whatever a damaged record or a decoder raises (warcio's Brotli hook raises
        # AttributeError with Google's `brotli`): the page keeps its WARC, title and
        # listed text; only the DOM and extracted text are left out.
        log.warning("could not read the archived HTML of %s", page.url, exc_info=True)
        out.html = None
    if out.html is not None:
        out.title = out.title or html_title(out.html)
        if not out.text:
            out.text = html_text(out.html, page.url)
            out.text_from = f"trafilatura {TRAFILATURA_VERSION}"
    return out
