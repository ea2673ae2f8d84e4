"""RSS and Atom feeds, parsed by feedparser (every RSS version, Atom, RDF, broken XML).

Feeds are small, and feedparser wants the whole document, so the file is read
whole up to `MAX_FEED_BYTES`. feedparser gives no line numbers per item;
problems name the entry's position in the feed instead.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from crawler.importers.base import ImportEntry, Parsed, ParseProblem, Source, split_tags

MAX_FEED_BYTES = 64 * 1024 * 1024


def _link(entry: Any) -> str | None:
    link = entry.get("link")
    if link:
        return str(link)
    for candidate in entry.get("links") or []:
        if candidate.get("href") and candidate.get("rel", "alternate") == "alternate":
            return str(candidate["href"])
    guid = entry.get("id")
    if guid and str(guid).startswith(("http://", "https://")):
        return str(guid)
    return None


def _when(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
            except (OverflowError, ValueError, OSError):
                return None
    return None


def parse(source: Source) -> Iterator[Parsed]:
    reader = source.text(newline="")
    document = reader.read(MAX_FEED_BYTES + 1)
    if len(document) > MAX_FEED_BYTES:
        yield ParseProblem(1, f"feed is larger than {MAX_FEED_BYTES // 2**20} MB; split it")
        return
    import feedparser  # only feeds need it; a parsing process for other formats skips it

    feed = feedparser.parse(document, sanitize_html=False, resolve_relative_uris=False)
    if feed.get("bozo") and not feed.entries:
        exc = feed.get("bozo_exception")
        line = exc.getLineNumber() if hasattr(exc, "getLineNumber") else 1
        yield ParseProblem(int(line or 1), f"not a valid RSS or Atom feed: {exc}")
        return
    if not feed.get("version") and not feed.entries:
        yield ParseProblem(1, "not an RSS or Atom feed")
        return
    for number, entry in enumerate(feed.entries, start=1):
        link = _link(entry)
        if not link:
            yield ParseProblem(number, "feed entry has no link", "entry")
            continue
        title = " ".join(str(entry.get("title") or "").split()) or None
        tags = split_tags([t.get("term") or "" for t in entry.get("tags") or []])
        yield ImportEntry(
            url=link.strip(),
            title=title,
            tags=tags,
            bookmarked_at=_when(entry),
            line=number,
            unit="entry",
        )
