"""Finding a page's own record in a WARC index: the capture of its URL nearest a time."""

from __future__ import annotations

from datetime import datetime

from crawler.warcindex import IndexEntry, WarcIndex, entry_time

__all__ = ["entry_time", "nearest_capture"]


def nearest_capture(index: WarcIndex, url: str, moment: datetime | None) -> IndexEntry | None:
    """The record of `url` closest to `moment` (the first one without a moment).

    A crawl can hold one URL many times; the page list's time says which capture
    a page means. Falls back to the index's fuzzy lookup (a cache-busting query).
    """
    if moment is None:
        captures = index.captures(url)
        if captures:
            return captures[0]
    found = index.lookup(url, near=moment)
    return found if found is not None and found.record_type != "metadata" else None
