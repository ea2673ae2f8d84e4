"""Which links a crawl follows: its config, scope rules and link extraction (pure functions).

A crawl's ``config`` JSON holds ``scope`` (page|prefix|host|domain|any),
``include``/``exclude`` (lists of regexes searched in the absolute link URL)
and ``ignore_robots``. Other keys are kept as given (ArchiveBox clients send
their own settings there). Bad values are refused when the crawl is created,
so the worker never meets a regex it cannot compile.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.html
from lxml import etree

from crawler.errors import InvalidInput
from crawler.urls import normalize_url, validate_url

SCOPES = ("page", "prefix", "host", "domain", "any")
DEFAULT_SCOPE = "prefix"
MAX_PATTERNS = 50
MAX_PATTERN_LENGTH = 500
MAX_LINKS_PER_PAGE = 5000


def _patterns(name: str, value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
        raise InvalidInput(f"config.{name} must be a regex or a list of regexes")
    items = [p for p in items if p]
    if len(items) > MAX_PATTERNS:
        raise InvalidInput(f"config.{name} has more than {MAX_PATTERNS} patterns")
    for pattern in items:
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise InvalidInput(f"config.{name} pattern is longer than {MAX_PATTERN_LENGTH}")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise InvalidInput(f"config.{name}: invalid regex {pattern!r}: {exc}") from exc
    return items


def clean_config(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate the crawl options Amber understands and fill in their defaults."""
    config = dict(raw or {})
    scope = config.get("scope", DEFAULT_SCOPE)
    if scope not in SCOPES:
        raise InvalidInput(f"config.scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    ignore = config.get("ignore_robots", False)
    if not isinstance(ignore, bool):
        raise InvalidInput("config.ignore_robots must be true or false")
    config["scope"] = scope
    config["ignore_robots"] = ignore
    config["include"] = _patterns("include", config.get("include"))
    config["exclude"] = _patterns("exclude", config.get("exclude"))
    return config


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _prefix(normalized: str) -> str:
    """The seed's "directory": scheme://host/path/ up to and including the last slash."""
    parts = urlsplit(normalized)
    path = parts.path[: parts.path.rfind("/") + 1] or "/"
    return f"{parts.scheme}://{parts.netloc}{path}"


def _domain(host: str) -> str:
    return host if _is_ip(host) else host.removeprefix("www.")


@dataclass(frozen=True, slots=True)
class CrawlRules:
    """The compiled rules of one crawl; built per page, cheap."""

    scope: str
    seeds: tuple[str, ...]
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    ignore_robots: bool = False

    @classmethod
    def build(cls, seeds: Iterable[str], config: Mapping[str, Any]) -> CrawlRules:
        cfg = clean_config(config)
        return cls(
            scope=cfg["scope"],
            seeds=tuple(normalize_url(s) for s in seeds),
            include=tuple(re.compile(p) for p in cfg["include"]),
            exclude=tuple(re.compile(p) for p in cfg["exclude"]),
            ignore_robots=cfg["ignore_robots"],
        )

    def in_scope(self, normalized: str) -> bool:
        if self.scope == "any":
            return True
        if self.scope == "page":
            return normalized in self.seeds
        if self.scope == "prefix":
            return any(normalized.startswith(_prefix(seed)) for seed in self.seeds)
        link = urlsplit(normalized)
        if self.scope == "host":
            return any(
                (link.scheme, link.netloc) == (s.scheme, s.netloc)
                for s in map(urlsplit, self.seeds)
            )
        host = link.hostname or ""
        for seed in self.seeds:
            base = _domain(urlsplit(seed).hostname or "")
            if host == base or (not _is_ip(base) and host.endswith("." + base)):
                return True
        return False

    def wanted(self, url: str) -> bool:
        """Include/exclude: excluded wins; with includes, one of them must match."""
        if any(p.search(url) for p in self.exclude):
            return False
        return not self.include or any(p.search(url) for p in self.include)


def seed_urls(raw: str | Sequence[str]) -> list[str]:
    """Seeds from a list or newline/whitespace-separated text, validated, deduped."""
    items = raw.split() if isinstance(raw, str) else list(raw)
    seeds: dict[str, str] = {}
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput("urls must be strings")
        if item.strip():
            url = validate_url(item)
            seeds.setdefault(normalize_url(url), url)
    if not seeds:
        raise InvalidInput("a crawl needs at least one URL")
    return list(seeds.values())


def extract_links(html: bytes, base_url: str) -> list[str]:
    """Absolute http(s) URLs of <a>/<area> links in a captured DOM, in page order, deduped.

    Relative links resolve against <base href> when present, else the page's
    final URL (after redirects). Fragments are dropped: they name the same page.
    """
    if not html.strip():
        return []
    parser = lxml.html.HTMLParser(encoding="utf-8")
    try:
        doc = lxml.html.document_fromstring(html, parser=parser)
    except (etree.ParserError, ValueError):
        return []
    base = base_url
    for element in doc.iter("base"):
        href = (element.get("href") or "").strip()
        if href:
            base = urljoin(base_url, href)
            break
    found: dict[str, str] = {}
    for element in doc.iter("a", "area"):
        href = (element.get("href") or "").strip()
        if not href or href.startswith("#"):
            continue
        try:
            url = urldefrag(urljoin(base, href)).url
            url = validate_url(url)
        except (ValueError, InvalidInput):
            continue
        found.setdefault(normalize_url(url), url)
        if len(found) >= MAX_LINKS_PER_PAGE:
            break
    return list(found.values())
