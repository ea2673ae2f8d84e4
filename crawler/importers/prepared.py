"""Validating and keying parsed entries: the CPU-heavy half of storing them.

Kept free of database imports: the parsing process runs `prepare` too.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import NamedTuple

from crawler.errors import InvalidInput
from crawler.importers.base import Parsed, ParseProblem
from crawler.urls import normalize_url, validate_url

MAX_TITLE = 2000


class Prepared(NamedTuple):
    """An entry validated and keyed by `prepare`, holding only what the writer stores.

    A flat tuple of plain values: a parsing process sends 100,000 of them through a
    pipe, and unpickling dataclasses cost the storing process more than a second.
    """

    digest: bytes  # of `key`; all the writer keeps per distinct URL
    key: str  # the normalised URL
    url: str  # as given, stripped
    title: str | None  # cut to MAX_TITLE
    bookmarked_at: datetime | None
    tags: tuple[str, ...]


def prepare(item: Parsed) -> Prepared | ParseProblem:
    """Validate and key one parsed item."""
    if isinstance(item, ParseProblem):
        return item
    try:
        url = validate_url(item.url)
        key = normalize_url(url)
    except InvalidInput as exc:
        return ParseProblem(item.line, exc.message, item.unit)
    return Prepared(
        hashlib.blake2b(key.encode(), digest_size=16).digest(),
        key,
        url,
        item.title[:MAX_TITLE] if item.title else None,
        item.bookmarked_at,
        item.tags,
    )
