"""Guess an import file's format from its first block of text."""

from __future__ import annotations

from crawler.importers import jsonfmt, pocket


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
