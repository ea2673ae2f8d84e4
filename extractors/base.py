"""The extractor contract: a name, a kind of scheduling, a line saying what it stores, one method.

An extractor reads the page the engine loaded once (`LoadedPage`) and returns
one `ExtractorOutput`; files it writes go under ``page.out_dir``. It never
reloads the page and never names another extractor. Subclass `Extractor` and
set the three class attributes; `extractors.registry` lists it by one line.

The engine (`extractors.engine.schedule`) runs the extractors of one page by
`Kind`: every ``free`` one concurrently, the ``page_bound`` ones one after
another beside them, and the ``last`` ones after all others; an ``html_only``
one is skipped on a PDF or an image. `Role` says what the pipeline takes from
an output besides storing it.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

from crawler.clock import utcnow

if TYPE_CHECKING:
    from extractors.engine.page import LoadedPage

Status = Literal["succeeded", "failed", "skipped"]


class Kind(StrEnum):
    """How an extractor shares the one loaded page with the others."""

    free = "free"  # only reads the page: runs concurrently with the other free ones
    page_bound = "page-bound"  # changes how the page renders: one at a time
    last = "last"  # needs what every other extractor did (the WARC sees the favicon fetch)


class Role(StrEnum):
    """What the capture pipeline takes from an extractor's output, besides storing it."""

    page_title = "page-title"  # output_str becomes the snapshot's title
    search_text = "search-text"  # the first file is indexed for full-text search
    crawl_links = "crawl-links"  # a crawl follows the links of the first file (HTML)


@dataclass(slots=True)
class OutputFile:
    """A file an extractor wrote under the capture's work dir, and its path in the archive."""

    archive_path: str
    local_path: Path
    mimetype: str = ""

    def __post_init__(self) -> None:
        if not self.mimetype:
            guessed, _ = mimetypes.guess_type(self.archive_path)
            self.mimetype = guessed or "application/octet-stream"


@dataclass(slots=True)
class ExtractorOutput:
    """One extractor's result; the engine fills in `plugin` and the timestamps."""

    status: Status
    files: list[OutputFile] = field(default_factory=list)
    output_str: str = ""
    error: str | None = None
    cmd_version: str = ""
    plugin: str = ""
    start_ts: datetime = field(default_factory=utcnow)
    end_ts: datetime = field(default_factory=utcnow)


class Extractor(Protocol):
    """Subclass it: `name` is the ArchiveResult plugin, `output` one line for the docs."""

    name: ClassVar[str]
    kind: ClassVar[Kind]
    output: ClassVar[str]
    roles: ClassVar[frozenset[Role]] = frozenset()
    html_only: ClassVar[bool] = False  # skipped, without being called, on a non-HTML page

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        """Produce this extractor's output from the already-loaded page (never reload it)."""
        ...


def skipped(reason: str) -> ExtractorOutput:
    """The output of an extractor that does not apply to this page (say why)."""
    return ExtractorOutput(status="skipped", output_str=reason)


def failed(error: str) -> ExtractorOutput:
    return ExtractorOutput(status="failed", error=error)
