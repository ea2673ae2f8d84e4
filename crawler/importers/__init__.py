"""Bulk-import parsers: one module per format, a detector, one streaming entry point.

`iter_entries` yields `ImportEntry` (a `UrlEntry` that knows its line) or
`ParseProblem` for whatever could not be read; `crawler.importers.writer`
stores the entries in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from crawler.errors import InvalidInput
from crawler.importers import feed, jsonfmt, netscape, pocket, text
from crawler.importers.base import ImportEntry, Parsed, ParseProblem, Source, source_from_bytes
from crawler.importers.detect import detect_format

if TYPE_CHECKING:
    from sqlmodel import Session

    from crawler.importers.writer import ImportSummary

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


def is_url_list(lines: Sequence[str]) -> bool:
    """True for a plain list of URLs (one token per line), which needs no parser."""
    return all(
        line and not line.startswith(("<", "{", "[")) and len(line.split()) == 1 for line in lines
    )


def import_text(
    session: Session, text: str, *, parser: str = "auto", **options: Any
) -> ImportSummary:
    """Import a whole document given as text (the API's ``urls`` field), in the caller's
    transaction: nothing is committed or sent here; dispatch ``queued_ids`` after commit.

    Raises InvalidInput when the document holds no usable URL at all.
    """
    from crawler.importers.writer import BulkWriter

    source = source_from_bytes(text.encode("utf-8"))
    writer = BulkWriter(session, commit=False, keep_ids=True, **options)
    writer.add_all(iter_entries(source, parser))
    summary = writer.finish()
    if not summary.snapshot_ids:
        shown = "; ".join(str(p) for p in summary.problems[:5])
        raise InvalidInput(f"no URLs found to import{': ' + shown if shown else ''}")
    return summary


__all__ = [
    "PARSERS",
    "PARSER_NAMES",
    "ImportEntry",
    "ParseProblem",
    "Parsed",
    "Source",
    "detect_format",
    "import_text",
    "is_url_list",
    "iter_entries",
    "resolve_parser",
    "source_from_bytes",
]
