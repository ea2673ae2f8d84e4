"""`UrlEntry`: one URL to add, kept apart from `crawler.snapshots` so that a parsing
process (see `crawler.importers.parallel`) builds entries without importing the
database layer, which would cost it a third of a second before its first line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class UrlEntry:
    """One URL to add, with what an import file may know about it."""

    url: str
    tags: tuple[str, ...] = ()
    title: str | None = None
    bookmarked_at: datetime | None = None
