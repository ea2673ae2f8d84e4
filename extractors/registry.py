"""The extractors, one line each, in the order their results are listed.

A line is ``"module:Class"``, loaded and instantiated when the registry is
built. Adding an extractor is a module and a line here; its name, scheduling
and docs line come from the class itself (docs/contributing.md has the recipe).
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterable, Iterator, Mapping

from extractors.base import Extractor, Kind, Role

EXTRACTOR_CLASSES = (
    "extractors.title:TitleExtractor",
    "extractors.headers:HeadersExtractor",
    "extractors.behaviours_log:BehavioursExtractor",
    "extractors.dom:DomExtractor",
    "extractors.text:TextExtractor",
    "extractors.favicon:FaviconExtractor",
    "extractors.screenshot:ScreenshotExtractor",
    "extractors.thumbnail:ThumbnailExtractor",
    "extractors.pdf:PdfExtractor",
    "extractors.singlefile:SingleFileExtractor",
    "extractors.warc:WarcExtractor",
)

# Libraries extractors import when first used: each costs a good part of a second to
# import (trafilatura alone ~0.6 s, regexes compiled at import), which `amber add` paid
# before its browser could start. A worker loads them on a side thread instead, while
# Chromium launches and the first pages load.
DEFERRED_IMPORTS = ("trafilatura", "bs4", "pypdf", "charset_normalizer")


def preload() -> threading.Thread:
    """Import DEFERRED_IMPORTS on a daemon thread (a failure shows where the extractor runs)."""

    def run() -> None:
        for name in DEFERRED_IMPORTS:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)

    thread = threading.Thread(target=run, name="amber-preload", daemon=True)
    thread.start()
    return thread


class Registry(Mapping[str, Extractor]):
    """Extractors by plugin name; iterating gives the names in registry order."""

    def __init__(self, extractors: Iterable[Extractor]) -> None:
        self._by_name: dict[str, Extractor] = {}
        for extractor in extractors:
            name = extractor.name
            if not name or name in self._by_name:
                raise ValueError(f"extractor name {name!r} is empty or taken")
            if extractor.kind not in Kind:
                raise ValueError(f"extractor {name!r} has no valid kind")
            self._by_name[name] = extractor

    @classmethod
    def load(cls, refs: Iterable[str]) -> Registry:
        """Import and instantiate each ``"module:Class"``."""
        extractors: list[Extractor] = []
        for ref in refs:
            module, _, attr = ref.partition(":")
            extractors.append(getattr(importlib.import_module(module), attr)())
        return cls(extractors)

    def replacing(self, *extractors: Extractor) -> Registry:
        """A copy where each of `extractors` takes the place of the one with its name."""
        swap = {e.name: e for e in extractors}
        unknown = set(swap) - set(self._by_name)
        if unknown:
            raise KeyError(f"no extractor named {', '.join(sorted(unknown))}")
        return Registry(swap.get(name, e) for name, e in self._by_name.items())

    def __getitem__(self, name: str) -> Extractor:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def markdown(self) -> str:
        """The docs' table of extractors (docs/capture.md holds it; a test keeps it in step)."""
        rows = ["| plugin | runs | output |", "| --- | --- | --- |"]
        rows += [f"| `{e.name}` | {e.kind.value} | {e.output} |" for e in self.values()]
        return "\n".join(rows)


def with_role(extractors: Mapping[str, Extractor], role: Role) -> str | None:
    """The name of the first of `extractors` whose output serves `role`, if any."""
    return next((name for name, e in extractors.items() if role in e.roles), None)


EXTRACTORS = Registry.load(EXTRACTOR_CLASSES)
