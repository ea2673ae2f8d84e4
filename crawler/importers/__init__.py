"""Bulk-import parsers: one module per format, a detector, one streaming entry point.

`iter_entries` yields `ImportEntry` (a `UrlEntry` that knows its line) or
`ParseProblem` for whatever could not be read; `crawler.importers.writer`
stores the entries in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from crawler.errors import InvalidInput
from crawler.importers import feed, jsonfmt, netscape, pocket, text
from crawler.importers.base import ImportEntry, Parsed, ParseProblem, Source, source_from_bytes
from crawler.importers.detect import detect_format

Parser = Callable[[Source], Iterator[Parsed]]

PARSERS: dict[str, Parser] = {
    "netscape": netscape.parse,
    "pocket": pocket.parse,
    "pinboard": jsonfmt.parse_pinboard,
    "rss": feed.parse,
    "jsonl": jsonfmt.parse,
    "text": text.parse,
}
ALIASES = {"html": "netscape", "atom": "rss", "json": "jsonl", "csv": "pocket", "txt": "text"}
PARSER_NAMES = ("auto", *PARSERS)


def resolve_parser(name: str, source: Source) -> str:
    """The parser to use: `name` itself, or the detected format for ``auto``."""
    key = (name or "auto").strip().lower()
    key = ALIASES.get(key, key)
    if key == "auto":
        return detect_format(source.head)
    if key not in PARSERS:
        raise InvalidInput(f"unknown parser {name!r}; use one of: {', '.join(PARSER_NAMES)}")
    return key


def iter_entries(source: Source, parser: str = "auto") -> Iterator[Parsed]:
    """Stream what `source` holds, in file order."""
    return PARSERS[resolve_parser(parser, source)](source)


__all__ = [
    "PARSERS",
    "PARSER_NAMES",
    "ImportEntry",
    "ParseProblem",
    "Parsed",
    "Source",
    "detect_format",
    "iter_entries",
    "resolve_parser",
    "source_from_bytes",
]
