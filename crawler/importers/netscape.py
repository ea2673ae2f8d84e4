"""Netscape bookmark files, as every browser exports them (and Pocket's HTML export).

Parsed with the standard library's tokenizing HTML parser: it reports tags as
written, without rebuilding a tree, so the unclosed ``<DT>``/``<p>`` soup of
these files cannot confuse folder nesting, and each anchor keeps its line.

Folder (``<H3>``) names on the path to a bookmark become its tags, except the
containers browsers add themselves (toolbar, "Other bookmarks", ...). A
``TAGS`` attribute adds more; ``ADD_DATE`` (or Pocket's ``time_added``) becomes
``bookmarked_at``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from html.parser import HTMLParser

from crawler.importers.base import (
    REPLACEMENT,
    ImportEntry,
    Parsed,
    ParseProblem,
    Source,
    parse_time,
    split_tags,
)

ROOT_FOLDERS = {
    "bookmarks",
    "bookmarks bar",
    "bookmarks toolbar",
    "bookmarks menu",
    "other bookmarks",
    "mobile bookmarks",
    "favorites bar",
    "favourites bar",
    "other favorites",
    "other favourites",
    "unsorted bookmarks",
}
ROOT_ATTRIBUTES = ("personal_toolbar_folder", "unfiled_bookmarks_folder")
DATE_ATTRIBUTES = ("add_date", "time_added", "last_modified")


class _BookmarkTokens(HTMLParser):
    """Turns tag events into entries and problems, queued for the generator to drain."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: deque[Parsed] = deque()
        self.folders: list[str | None] = []
        self.pending_folder: str | None = None
        self.heading: list[str] | None = None
        self.heading_is_root = False
        self.anchor: dict[str, str | None] | None = None
        self.anchor_text: list[str] = []
        self.anchor_line = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._finish_anchor()
            self.anchor = dict(attrs)
            self.anchor_text = []
            self.anchor_line = self.getpos()[0]
        elif tag == "h3":
            self._finish_anchor()
            self.heading = []
            names = {name for name, _ in attrs}
            self.heading_is_root = any(flag in names for flag in ROOT_ATTRIBUTES)
        elif tag == "dl":
            self._finish_anchor()
            self.folders.append(self.pending_folder)
            self.pending_folder = None
        elif tag in ("dt", "dd", "li", "h1", "h2"):
            self._finish_anchor()

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._finish_anchor()
        elif tag == "h3" and self.heading is not None:
            name = " ".join("".join(self.heading).split())
            root = self.heading_is_root or name.lower() in ROOT_FOLDERS
            self.pending_folder = None if root or not name else name[:200]
            self.heading = None
        elif tag == "dl":
            self._finish_anchor()
            if self.folders:
                self.folders.pop()

    def handle_data(self, data: str) -> None:
        if self.anchor is not None:
            self.anchor_text.append(data)
        elif self.heading is not None:
            self.heading.append(data)

    def _finish_anchor(self) -> None:
        attrs, self.anchor = self.anchor, None
        if attrs is None:
            return
        line = self.anchor_line
        href = (attrs.get("href") or "").strip()
        if not href:
            self.out.append(ParseProblem(line, "bookmark has no HREF"))
            return
        if REPLACEMENT in href:
            self.out.append(ParseProblem(line, "URL has bytes that are not valid text"))
            return
        title = " ".join("".join(self.anchor_text).split()) or None
        folders = tuple(f for f in self.folders if f)
        when = None
        for name in DATE_ATTRIBUTES:
            when = parse_time(attrs.get(name))
            if when is not None:
                break
        tags = tuple(dict.fromkeys(folders + split_tags(attrs.get("tags"))))
        self.out.append(
            ImportEntry(url=href, tags=tags, title=title, bookmarked_at=when, line=line)
        )

    def close(self) -> None:
        super().close()
        self._finish_anchor()


def parse(source: Source) -> Iterator[Parsed]:
    tokens = _BookmarkTokens()
    for chunk in source.chunks():
        tokens.feed(chunk)
        while tokens.out:
            yield tokens.out.popleft()
    tokens.close()
    while tokens.out:
        yield tokens.out.popleft()
