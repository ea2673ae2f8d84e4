"""Rewriting archived HTML and CSS so every URL they name points back into the archive.

The rewriter passes the document through untouched except for attribute values
that hold URLs (src, href, srcset, action, poster, data, background, style,
meta refresh, inline <style>) and removes `integrity` (rewritten CSS would no
longer match its hash). Script text is left alone: the replay shim
(`static/replay.js`) catches the URLs scripts build at run time, and the replay
origin's Content-Security-Policy stops anything that escapes both.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

UNTOUCHED_SCHEMES = ("data:", "blob:", "javascript:", "about:", "mailto:", "tel:", "#")
URL_ATTRIBUTES = {
    "src",
    "href",
    "action",
    "formaction",
    "poster",
    "data",
    "background",
    "longdesc",
    "manifest",
    "codebase",
    "cite",
}
SRCSET_ATTRIBUTES = {"srcset", "imagesrcset"}
CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.IGNORECASE | re.DOTALL)
CSS_IMPORT = re.compile(r"""@import\s+(['"])(.*?)\1""", re.IGNORECASE)
META_REFRESH = re.compile(r"^(\s*\d+(?:\.\d+)?\s*[;,]\s*(?:url\s*=\s*)?)(['\"]?)(.*?)\2\s*$", re.I)
CHARSET_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)


@dataclass(frozen=True, slots=True)
class UrlMapper:
    """Maps original URLs to replay paths under `prefix` (``/{cap}/{snapshot}/mp_/``)."""

    prefix: str

    def __call__(self, value: str, base: str) -> str:
        stripped = value.strip()
        if not stripped or stripped.lower().startswith(UNTOUCHED_SCHEMES):
            return value
        if stripped.startswith(self.prefix):
            return value
        try:
            absolute = urljoin(base, stripped)
        except ValueError:
            return value
        if urlsplit(absolute).scheme not in ("http", "https"):
            return value
        return self.prefix + absolute

    def srcset(self, value: str, base: str) -> str:
        out = []
        for candidate in value.split(","):
            parts = candidate.strip().split(None, 1)
            if not parts:
                continue
            parts[0] = self(parts[0], base)
            out.append(" ".join(parts))
        return ", ".join(out)


def rewrite_css(text: str, base: str, mapper: UrlMapper) -> str:
    def _url(match: re.Match[str]) -> str:
        quote, target = match.group(1), match.group(2)
        return f"url({quote}{mapper(target, base)}{quote})"

    def _import(match: re.Match[str]) -> str:
        quote, target = match.group(1), match.group(2)
        return f"@import {quote}{mapper(target, base)}{quote}"

    return CSS_URL.sub(_url, CSS_IMPORT.sub(_import, text))


class _HtmlRewriter(HTMLParser):
    def __init__(self, base: str, mapper: UrlMapper, head_insert: str) -> None:
        super().__init__(convert_charrefs=False)
        self.base = base
        self.mapper = mapper
        self.head_insert = head_insert
        self.inserted = not head_insert
        self.out: list[str] = []
        self._in_style = False

    # The insert goes first in <head>, or before the first other element.
    def _insert(self) -> None:
        if not self.inserted:
            self.out.append(self.head_insert)
            self.inserted = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self.get_starttag_text() or "", closed=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self.get_starttag_text() or "", closed=True)

    def _start(
        self, tag: str, attrs: list[tuple[str, str | None]], raw: str, *, closed: bool
    ) -> None:
        if tag not in ("html", "head") and not self.inserted:
            self._insert()
        new_attrs, changed = self._rewrite_attrs(tag, attrs)
        if tag == "base":
            href = dict(attrs).get("href")
            if href:
                self.base = urljoin(self.base, href)
        if changed:
            rendered = "".join(
                f" {name}" if value is None else f' {name}="{html.escape(value, quote=True)}"'
                for name, value in new_attrs
            )
            self.out.append(f"<{tag}{rendered}{' /' if closed else ''}>")
        else:
            self.out.append(raw)
        if tag == "head":
            self._insert()
        self._in_style = tag == "style" and not closed

    def _rewrite_attrs(
        self, tag: str, attrs: list[tuple[str, str | None]]
    ) -> tuple[list[tuple[str, str | None]], bool]:
        out: list[tuple[str, str | None]] = []
        changed = False
        is_refresh = any(n == "http-equiv" and (v or "").lower() == "refresh" for n, v in attrs)
        for name, value in attrs:
            new = value
            if value is None:
                pass
            elif name in ("integrity", "ping"):
                changed = True  # rewritten bytes fail SRI; pings would leave the archive
                continue
            elif name in URL_ATTRIBUTES:
                new = self.mapper(value, self.base)
            elif name in SRCSET_ATTRIBUTES:
                new = self.mapper.srcset(value, self.base)
            elif name == "style":
                new = rewrite_css(value, self.base, self.mapper)
            elif name == "content" and is_refresh:
                new = self._refresh(value)
            elif name == "srcdoc":
                new = rewrite_html_text(value, self.base, self.mapper, head_insert="")
            changed = changed or new != value
            out.append((name, new))
        return out, changed

    def _refresh(self, value: str) -> str:
        match = META_REFRESH.match(value)
        if not match or not match.group(3):
            return value
        return f"{match.group(1)}{self.mapper(match.group(3), self.base)}"

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self._insert()
        self._in_style = False
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self._in_style:
            data = rewrite_css(data, self.base, self.mapper)
        elif data.strip() and not self.inserted:
            self._insert()
        self.out.append(data)

    def handle_entityref(self, name: str) -> None:
        self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.out.append(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.out.append(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self.out.append(f"<![{data}]>")

    def result(self) -> str:
        self.close()
        if not self.inserted:
            self.out.insert(0, self.head_insert)
        return "".join(self.out)


def rewrite_html_text(text: str, base: str, mapper: UrlMapper, *, head_insert: str) -> str:
    rewriter = _HtmlRewriter(base, mapper, head_insert)
    rewriter.feed(text)
    return rewriter.result()


def html_charset(body: bytes, content_type: str) -> str:
    """The document's encoding: the header's charset, else a <meta> one, else UTF-8."""
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    found = CHARSET_META.search(body[:4096])
    return found.group(1).decode("ascii") if found else "utf-8"


def _codec(name: str) -> str:
    import codecs

    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


def rewrite_html(
    body: bytes, content_type: str, base: str, mapper: UrlMapper, *, head_insert: str
) -> bytes:
    """Rewrite a whole document, keeping its encoding (bytes it cannot decode survive)."""
    codec = _codec(html_charset(body, content_type))
    errors = "surrogateescape" if codec in ("utf-8", "ascii") else "replace"
    text = body.decode(codec, errors=errors)
    out = rewrite_html_text(text, base, mapper, head_insert=head_insert)
    return out.encode(
        codec, errors="surrogateescape" if errors == "surrogateescape" else "xmlcharrefreplace"
    )


def rewrite_css_bytes(body: bytes, content_type: str, base: str, mapper: UrlMapper) -> bytes:
    codec = _codec(html_charset(b"", content_type))
    text = body.decode(codec, errors="surrogateescape" if codec == "utf-8" else "replace")
    out = rewrite_css(text, base, mapper)
    return out.encode(codec, errors="surrogateescape" if codec == "utf-8" else "xmlcharrefreplace")
