"""JSON exports: JSON Lines, a JSON array of objects, Pinboard's export, Firefox's backup.

Each object needs a URL field (``url``, ``href``, ``uri`` or ``link``). A top-level
array is decoded one element at a time (``JSONDecoder.raw_decode`` over a
sliding buffer), so a large export never sits in memory whole. A Firefox
backup (one object with nested ``children``) is walked as a folder tree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from crawler.importers.base import (
    REPLACEMENT,
    ImportEntry,
    Parsed,
    ParseProblem,
    Source,
    parse_time,
    split_tags,
)

URL_KEYS = ("url", "href", "uri", "link")
TITLE_KEYS = ("title", "description", "name")
TAG_KEYS = ("tags", "tag", "labels")
TIME_KEYS = (
    "bookmarked_at",
    "time",
    "time_added",
    "timestamp",
    "created_at",
    "created",
    "added",
    "dateAdded",
    "date",
)
MAX_ELEMENT = 16 * 1024 * 1024
_decoder = json.JSONDecoder()


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = obj.get(key)
        if value not in (None, ""):
            return value
    return None


def entry_from_object(
    obj: object, line: int, *, pinboard: bool = False, unit: str = "line"
) -> Parsed:
    """One JSON object -> an entry, or a problem saying what is missing."""
    if not isinstance(obj, dict):
        return ParseProblem(line, f"expected a JSON object, got {type(obj).__name__}", unit)
    url = _first(obj, ("href", "url") if pinboard else URL_KEYS)
    if not isinstance(url, str) or not url.strip():
        return ParseProblem(line, "object has no url field", unit)
    if REPLACEMENT in url:
        return ParseProblem(line, "URL has bytes that are not valid text", unit)
    title = _first(obj, TITLE_KEYS)
    tags = _first(obj, TAG_KEYS)
    separators = " " if pinboard else ","
    return ImportEntry(
        url=url.strip(),
        title=" ".join(title.split())[:2000] or None if isinstance(title, str) else None,
        tags=split_tags(tags, separators=separators),
        bookmarked_at=parse_time(_first(obj, TIME_KEYS)),
        line=line,
        unit=unit,
    )


def _walk_tree(node: dict[str, Any], folders: tuple[str, ...], line: int) -> Iterator[Parsed]:
    """Firefox's bookmarks backup: folders nest under ``children``; ``uri`` marks a bookmark."""
    children = node.get("children")
    if isinstance(children, list):
        name = node.get("title")
        is_root = str(node.get("root") or "") != "" or not name
        inner = folders if is_root else (*folders, str(name)[:200])
        for child in children:
            if isinstance(child, dict):
                yield from _walk_tree(child, inner, line)
        return
    if "uri" in node or "url" in node:
        found = entry_from_object(node, line)
        if isinstance(found, ImportEntry):
            found.tags = tuple(dict.fromkeys(folders + found.tags))
        yield found


def _parse_lines(source: Source, *, pinboard: bool) -> Iterator[Parsed]:
    for number, line in enumerate(source.text(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            yield ParseProblem(number, f"malformed JSON: {exc.msg} (column {exc.colno})")
            continue
        if isinstance(obj, dict) and "children" in obj and not _first(obj, URL_KEYS):
            yield from _walk_tree(obj, (), number)
            continue
        yield entry_from_object(obj, number, pinboard=pinboard)


def _parse_array(source: Source, *, pinboard: bool) -> Iterator[Parsed]:
    """Decode ``[obj, obj, ...]`` element by element, tracking line numbers."""
    chunks = source.chunks()
    buffer = ""
    pos = 0
    line = 1
    done = False

    def refill() -> bool:
        nonlocal buffer, pos, done
        if done:
            return False
        chunk = next(chunks, None)
        if chunk is None:
            done = True
            return False
        buffer = buffer[pos:] + chunk
        pos = 0
        return True

    def skip_space() -> None:
        nonlocal pos, line
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n\ufeff":
                if buffer[pos] == "\n":
                    line += 1
                pos += 1
            if pos < len(buffer) or not refill():
                return

    skip_space()
    if pos >= len(buffer) or buffer[pos] != "[":
        yield ParseProblem(line, "expected a JSON array")
        return
    pos += 1
    expect_value = True
    while True:
        skip_space()
        if pos >= len(buffer):
            yield ParseProblem(line, "JSON array is not closed (file cut short?)")
            return
        char = buffer[pos]
        if char == "]":
            return
        if char == "," and not expect_value:
            pos += 1
            expect_value = True
            continue
        start_line = line
        while True:
            try:
                obj, end = _decoder.raw_decode(buffer, pos)
                complete = end < len(buffer) or done
            except json.JSONDecodeError as exc:
                obj, end, complete = None, -1, False
                error = exc
            if complete or (end < 0 and len(buffer) - pos > MAX_ELEMENT):
                break
            if not refill():
                break
        if end < 0:
            yield ParseProblem(
                start_line, f"malformed JSON: {error.msg}; the rest of the file is skipped"
            )
            return
        line += buffer.count("\n", pos, end)
        pos = end
        expect_value = False
        yield entry_from_object(obj, start_line, pinboard=pinboard)


def _parse(source: Source, *, pinboard: bool) -> Iterator[Parsed]:
    if source.head.lstrip("\ufeff \t\r\n").startswith("["):
        return _parse_array(source, pinboard=pinboard)
    return _parse_lines(source, pinboard=pinboard)


def parse(source: Source) -> Iterator[Parsed]:
    return _parse(source, pinboard=False)


def parse_pinboard(source: Source) -> Iterator[Parsed]:
    return _parse(source, pinboard=True)


def looks_like_pinboard(head: str) -> bool:
    return '"href"' in head and any(k in head for k in ('"hash"', '"toread"', '"shared"'))
