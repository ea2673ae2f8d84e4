"""Guess an import file's format from its first block of text (or bytes, for archives)."""

from __future__ import annotations

import zlib
from typing import Literal

from crawler.importers import jsonfmt, pocket

ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"
WARC_MAGIC = b"WARC/"


def detect_archive(head: bytes) -> Literal["wacz", "warc"] | None:
    """ "wacz" for a zip, "warc" for a WARC (plain or gzipped), None for anything else.

    Any zip counts as a WACZ here, so that a zip which is not one gets a clear
    error from the WACZ importer instead of being read as text.
    """
    if head.startswith(ZIP_MAGIC):
        return "wacz"
    if head.startswith(GZIP_MAGIC):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 64)
        except zlib.error:
            return None
    return "warc" if head.startswith(WARC_MAGIC) else None


def detect_format(head: str) -> str:
    """One of netscape, pocket, pinboard, rss, jsonl, text."""
    body = head.lstrip("\ufeff \t\r\n")
    low = body[:8192].lower()
    if "<!doctype netscape-bookmark-file" in low:
        return "netscape"
    if "<title>pocket export</title>" in low or ("time_added=" in low and "<a " in low):
        return "pocket"
    is_html = "<html" in low or "<dl" in low or "<dt>" in low or "<!doctype html" in low
    if not is_html and (
        low.startswith("<?xml") or "<rss" in low or "<feed" in low or "<rdf:rdf" in low
    ):
        return "rss"
    if is_html or "<a href" in low:
        return "netscape"
    if body.startswith("["):
        return "pinboard" if jsonfmt.looks_like_pinboard(body[:8192]) else "jsonl"
    if body.startswith("{"):
        return "jsonl"
    if pocket.looks_like_csv(body):
        return "pocket"
    return "text"
