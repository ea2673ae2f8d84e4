"""The extractor contract: one async method that turns a loaded page into one output."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from crawler.clock import utcnow

if TYPE_CHECKING:
    from extractors.engine.page import LoadedPage

Status = Literal["succeeded", "failed", "skipped"]


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
    plugin: str
    status: Status
    files: list[OutputFile] = field(default_factory=list)
    output_str: str = ""
    error: str | None = None
    cmd_version: str = ""
    start_ts: datetime = field(default_factory=utcnow)
    end_ts: datetime = field(default_factory=utcnow)


class Extractor(Protocol):
    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        """Produce this extractor's output from the already-loaded page (never reload it)."""
        ...


def skipped(plugin: str, reason: str) -> ExtractorOutput:
    return ExtractorOutput(plugin=plugin, status="skipped", output_str=reason)
