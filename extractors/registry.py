"""The extractors by plugin name, in the order they run on a loaded page.

Adding an extractor is a module and a line here. `warc` runs last so it sees
every exchange, including the favicon fetch.
"""

from __future__ import annotations

from extractors.base import Extractor
from extractors.dom import DomExtractor
from extractors.favicon import FaviconExtractor
from extractors.headers import HeadersExtractor
from extractors.pdf import PdfExtractor
from extractors.screenshot import ScreenshotExtractor
from extractors.text import TextExtractor
from extractors.title import TitleExtractor
from extractors.warc import WarcExtractor

EXTRACTORS: dict[str, Extractor] = {
    "title": TitleExtractor(),
    "headers": HeadersExtractor(),
    "dom": DomExtractor(),
    "text": TextExtractor(),
    "favicon": FaviconExtractor(),
    "screenshot": ScreenshotExtractor(),
    "pdf": PdfExtractor(),
    "warc": WarcExtractor(),
}

PLUGINS: tuple[str, ...] = tuple(EXTRACTORS)


def ordered(plugins: object) -> tuple[str, ...]:
    wanted = set(plugins)  # type: ignore[call-overload]
    return tuple(name for name in PLUGINS if name in wanted)
