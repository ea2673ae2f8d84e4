"""Plain text with URLs anywhere in it: one per line, or inside prose, Markdown, logs.

A line holding a single word that is not an http(s) URL (``example.com``,
``ftp://host/file``) is reported, since a URL list probably meant it; lines of
prose without URLs are simply text and are skipped quietly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from crawler.importers.base import REPLACEMENT, ImportEntry, Parsed, ParseProblem, Source

URL = re.compile(r"""https?://[^\s<>"'`\x00-\x1f\x7f]+""", re.IGNORECASE)
OTHER_SCHEME = re.compile(r"\b([a-z][a-z0-9+.-]*)://\S+", re.IGNORECASE)
TRAILING = ".,;:!?*'\""
PAIRS = {")": "(", "]": "[", "}": "{", ">": "<"}


def clean_url(candidate: str) -> str:
    """Drop punctuation that ends a sentence or closes brackets the URL did not open."""
    url = candidate
    while url:
        last = url[-1]
        unbalanced = last in PAIRS and url.count(last) > url.count(PAIRS[last])
        if last in TRAILING or unbalanced:
            url = url[:-1]
        else:
            break
    return url


def parse(source: Source) -> Iterator[Parsed]:
    for number, line in enumerate(source.text(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        found = [clean_url(m.group(0)) for m in URL.finditer(stripped)]
        if not found:
            other = OTHER_SCHEME.search(stripped)
            if other:
                yield ParseProblem(
                    number,
                    f"only http and https URLs can be archived, not {other.group(0)[:200]!r}",
                )
            elif len(stripped.split()) == 1:
                yield ParseProblem(
                    number, f"not a URL (no http:// or https://): {stripped[:200]!r}"
                )
            continue
        for url in found:
            if REPLACEMENT in url:
                yield ParseProblem(number, f"URL is not valid {source.encoding} text")
                continue
            yield ImportEntry(url=url, line=number)
