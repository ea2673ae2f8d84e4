"""Finding a page's own record in a WARC index: the capture of its URL nearest a time."""

from __future__ import annotations

from datetime import UTC, datetime

from warcio.timeutils import timestamp_to_datetime

from crawler.warcindex import IndexEntry, WarcIndex


def entry_time(entry: IndexEntry) -> datetime:
    """When the record was written (its WARC-Date, to the second)."""
    return timestamp_to_datetime(entry.timestamp).replace(tzinfo=UTC)


def nearest_capture(index: WarcIndex, url: str, moment: datetime | None) -> IndexEntry | None:
    """The record of `url` closest to `moment` (the first one without a moment).

    A crawl can hold one URL many times; the page list's time says which capture
    a page means. Falls back to the index's fuzzy lookup (a cache-busting query).
    """
    captures = index.captures(url)
    if not captures:
        found = index.lookup(url)
        return found if found is not None and found.record_type != "metadata" else None
    if moment is None:
        return captures[0]
    return min(captures, key=lambda e: abs((entry_time(e) - moment).total_seconds()))
