"""Pocket exports: the classic HTML (``<a href time_added tags>`` in "Unread" and
"Read Archive" lists) and the newer CSV (``title,url,time_added,tags,status``,
tags separated by ``|``). Any CSV with a ``url`` column is read the same way.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from crawler.importers import netscape
from crawler.importers.base import (
    REPLACEMENT,
    ImportEntry,
    Parsed,
    ParseProblem,
    Source,
    parse_time,
    split_tags,
)

URL_COLUMNS = ("url", "href", "link", "uri")
TITLE_COLUMNS = ("title", "name", "description")
TAG_COLUMNS = ("tags", "tag", "labels", "folder")
TIME_COLUMNS = ("time_added", "bookmarked_at", "created", "created_at", "added", "date", "time")
MAX_FIELD = 1024 * 1024


def looks_like_csv(head: str) -> bool:
    first = head.lstrip("\ufeff").split("\n", 1)[0]
    try:
        names = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        return False
    lowered = {name.strip().lower() for name in names}
    return len(names) >= 2 and any(column in lowered for column in URL_COLUMNS)


def _pick(row: dict[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = row.get(name)
        if value:
            return value
    return None


def parse_csv(source: Source) -> Iterator[Parsed]:
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(source.text(newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield ParseProblem(1, f"unreadable CSV header: {exc}")
        return
    columns = [name.strip().lstrip("\ufeff").lower() for name in header]
    if not any(column in columns for column in URL_COLUMNS):
        yield ParseProblem(1, f"CSV header has no url column (found: {', '.join(columns)[:200]})")
        return
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield ParseProblem(start, f"malformed CSV row: {exc}")
            if reader.line_num == last_line:
                return
            last_line = reader.line_num
            continue
        last_line = reader.line_num
        if not any(value.strip() for value in values):
            continue
        row = dict(zip(columns, values, strict=False))
        url = (_pick(row, URL_COLUMNS) or "").strip()
        if not url:
            yield ParseProblem(start, "row has no URL")
            continue
        if REPLACEMENT in url:
            yield ParseProblem(start, f"URL is not valid {source.encoding} text")
            continue
        title = (_pick(row, TITLE_COLUMNS) or "").strip() or None
        yield ImportEntry(
            url=url,
            title=title,
            tags=split_tags(_pick(row, TAG_COLUMNS), separators="|,"),
            bookmarked_at=parse_time(_pick(row, TIME_COLUMNS)),
            line=start,
        )


def parse(source: Source) -> Iterator[Parsed]:
    if looks_like_csv(source.head):
        return parse_csv(source)
    return netscape.parse(source)
