"""WACZ page lists (``pages/pages.jsonl``, ``pages/extraPages.jsonl``), JSON Lines.

The first line is a header (``{"format": "json-pages-1.0", "id": …}``); every
other line is one page: ``id``, ``url``, ``ts`` (RFC 3339) and optionally
``title`` and ``text``. Readers are lenient, as Browsertrix and py-wacz files vary:
a bad line is reported and skipped, a 14-digit ``timestamp`` is read as ``ts``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from warcio.timeutils import timestamp_to_datetime

from crawler.importers.base import ParseProblem

PAGES_FORMAT = "json-pages-1.0"


@dataclass(frozen=True, slots=True)
class Page:
    url: str
    ts: datetime | None = None
    id: str | None = None
    title: str | None = None
    text: str | None = None


def iso_ts(moment: datetime) -> str:
    """``2024-05-01T12:00:00Z``: the second the page was captured, as WACZ writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def header_line(*, list_id: str = "pages", title: str = "All Pages", has_text: bool) -> str:
    header: dict[str, object] = {"format": PAGES_FORMAT, "id": list_id, "title": title}
    if has_text:
        header["hasText"] = True
    return json.dumps(header, ensure_ascii=False)


def page_line(page: Page) -> str:
    data: dict[str, str] = {"id": page.id or "", "url": page.url}
    if page.ts is not None:
        data["ts"] = iso_ts(page.ts)
    if page.title:
        data["title"] = page.title
    if page.text:
        data["text"] = page.text
    return json.dumps(data, ensure_ascii=False)


def parse_ts(value: object) -> datetime | None:
    """RFC 3339 (``…Z``, with or without fractions) or a 14-digit WARC timestamp."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        if text.isdigit():
            return timestamp_to_datetime(text.ljust(14, "0")[:14]).replace(tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_pages(lines: Iterable[bytes], *, unit: str) -> Iterator[Page | ParseProblem]:
    """Pages in file order; headers are skipped, anything unusable becomes a problem."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            yield ParseProblem(number, "not valid JSON", unit)
            continue
        if not isinstance(data, dict):
            yield ParseProblem(number, "not a JSON object", unit)
            continue
        if "format" in data and "url" not in data:
            continue  # the header
        url = data.get("url")
        if not isinstance(url, str) or not url.strip():
            yield ParseProblem(number, "page has no url", unit)
            continue
        title, text, page_id = data.get("title"), data.get("text"), data.get("id")
        yield Page(
            url=url.strip(),
            ts=parse_ts(data.get("ts") or data.get("timestamp")),
            id=str(page_id) if page_id else None,
            title=title.strip() or None if isinstance(title, str) else None,
            text=text if isinstance(text, str) and text.strip() else None,
        )
