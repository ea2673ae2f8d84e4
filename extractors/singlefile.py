"""One self-contained HTML file: the DOM after behaviours, its resources inlined as data: URLs.

It is built from the same load, never from a second fetch: every stylesheet,
image, font and frame comes from the bytes the recorder kept for the WARC.
Scripts are dropped (the DOM already holds what they did, and offline they
could only fail), so the file opens by double-click, with no Amber and no
network, and shows what the screenshot shows.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

from extractors.base import Extractor, ExtractorOutput, Kind, OutputFile
from extractors.engine.page import LoadedPage
from extractors.engine.recorder import Exchange

CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""", re.IGNORECASE)
CSS_IMPORT = re.compile(r"""@import\s+(['"])([^'"]+)\1""", re.IGNORECASE)
URL_ATTRS = (("img", "src"), ("input", "src"), ("video", "poster"), ("source", "src"))
DROP = ("script", "noscript", "base")
DROP_LINKS = {"preload", "prefetch", "modulepreload", "preconnect", "dns-prefetch", "manifest"}
MAX_DEPTH = 4  # stylesheets importing stylesheets
MAX_INLINE = 25 * 1024 * 1024  # a larger resource (a video) stays a link rather than bloat the file


class Resources:
    """The recorded bodies by URL, as data: URLs (following recorded redirects)."""

    def __init__(self, exchanges: list[Exchange]) -> None:
        self.inlined: dict[str, str] = {}
        self.by_url: dict[str, Exchange] = {}
        for exchange in exchanges:
            response = exchange.response
            if response is None or exchange.method != "GET":
                continue
            if response.body_path is not None or 300 <= response.status < 400:
                self.by_url[exchange.url.split("#", 1)[0]] = exchange

    def body(self, url: str) -> tuple[bytes, str] | None:
        """The recorded body and mimetype of `url`, after at most five redirects."""
        for _ in range(6):
            exchange = self.by_url.get(url.split("#", 1)[0])
            if exchange is None or exchange.response is None:
                return None
            response = exchange.response
            if 300 <= response.status < 400:
                location = next((v for k, v in response.headers if k.lower() == "location"), "")
                if not location:
                    return None
                url = urljoin(url, location)
                continue
            if response.body_path is None or not 200 <= response.status < 300:
                return None
            if response.body_path.stat().st_size > MAX_INLINE:
                return None
            mimetype = next(
                (v for k, v in response.headers if k.lower() == "content-type"),
                response.mimetype or "application/octet-stream",
            )
            return response.body_path.read_bytes(), mimetype.split(";")[0].strip()
        return None

    def data_url(self, url: str, *, css: Callable[[str, str, int], str] | None = None) -> str:
        """`url` as a data: URL when it was recorded, else the absolute URL unchanged."""
        if url.startswith(("data:", "blob:", "about:", "javascript:")) or not url.strip():
            return url
        if url in self.inlined:
            return self.inlined[url]
        found = self.body(url)
        if found is None:
            return url
        data, mimetype = found
        if css is not None and mimetype == "text/css":
            data = css(data.decode("utf-8", errors="replace"), url, 1).encode("utf-8")
        inlined = f"data:{mimetype};base64,{base64.b64encode(data).decode('ascii')}"
        self.inlined[url] = inlined
        return inlined


def inline_css(resources: Resources, text: str, base: str, depth: int = 0) -> str:
    """Every url() and @import of a stylesheet, resolved against its own URL and inlined."""

    def nested(css_text: str, css_url: str, _depth: int) -> str:
        return inline_css(resources, css_text, css_url, depth + 1) if depth < MAX_DEPTH else ""

    def url_sub(match: re.Match[str]) -> str:
        target = urljoin(base, match.group(2).strip())
        return f'url("{resources.data_url(target, css=nested)}")'

    def import_sub(match: re.Match[str]) -> str:
        target = urljoin(base, match.group(2).strip())
        return f'@import "{resources.data_url(target, css=nested)}"'

    return CSS_URL.sub(url_sub, CSS_IMPORT.sub(import_sub, text))


def _srcset(resources: Resources, value: str, base: str) -> str:
    out = []
    for candidate in value.split(","):
        parts = candidate.strip().split()
        if not parts:
            continue
        url = resources.data_url(urljoin(base, parts[0]))
        if url.startswith("data:"):
            out.append(" ".join([url, *parts[1:]]))
    return ", ".join(out)


def build(html: str, base: str, resources: Resources) -> str:
    """The self-contained document for the DOM `html` of the page at `base`."""
    from bs4 import BeautifulSoup  # loaded when first needed (registry.preload)

    soup = BeautifulSoup(html, "lxml")
    for tag in soup.find_all(DROP):
        tag.decompose()
    for style in soup.find_all("style"):
        style.string = inline_css(resources, style.get_text(), base)
    for link in soup.find_all("link"):
        rels = {r.lower() for r in link.get_attribute_list("rel") if r}
        href = urljoin(base, str(link.get("href") or ""))
        if rels & DROP_LINKS:
            link.decompose()
        elif "stylesheet" in rels:
            found = resources.body(href)
            if found is None:
                link.decompose()
                continue
            style = soup.new_tag("style")
            if link.get("media"):
                style["media"] = link["media"]
            style.string = inline_css(resources, found[0].decode("utf-8", errors="replace"), href)
            link.replace_with(style)
        elif "icon" in rels or "apple-touch-icon" in rels:
            link["href"] = resources.data_url(href)
    for tag in soup.find_all(style=True):
        tag["style"] = inline_css(resources, str(tag["style"]), base)
    for name, attr in URL_ATTRS:
        for tag in soup.find_all(name):
            if tag.get(attr):
                tag[attr] = resources.data_url(urljoin(base, str(tag[attr])))
    for tag in soup.find_all(["img", "source"]):
        if tag.get("srcset"):
            tag["srcset"] = _srcset(resources, str(tag["srcset"]), base)
        tag.attrs.pop("loading", None)
    for frame in soup.find_all(["iframe", "frame"]):
        src = urljoin(base, str(frame.get("src") or ""))
        found = resources.body(src) if frame.get("src") else None
        if found is not None and found[1] in ("text/html", "application/xhtml+xml"):
            inner = build(found[0].decode("utf-8", errors="replace"), src, resources)
            frame["srcdoc"] = inner
            del frame["src"]
    for tag in soup.find_all(True):
        for attr in [a for a in tag.attrs if a.lower().startswith("on")]:
            del tag[attr]  # inline handlers are scripts too
    for anchor in soup.find_all("a", href=True):
        anchor["href"] = urljoin(base, str(anchor["href"]))
    head = soup.head or soup.new_tag("head")
    if soup.head is None and soup.html is not None:
        soup.html.insert(0, head)
    if not soup.find("meta", charset=True):
        head.insert(0, soup.new_tag("meta", charset="utf-8"))
    return str(soup)


class SingleFileExtractor(Extractor):
    name = "singlefile"
    kind = Kind.free
    html_only = True
    output = (
        "`singlefile.html`: one self-contained file, the DOM after behaviours with its CSS, "
        "images, fonts and frames inlined as `data:` URLs from the recorded bytes; no scripts"
    )

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        html = await page.html()
        resources = Resources(list(page.recorder.exchanges))
        text = await asyncio.to_thread(build, html, page.final_url, resources)
        path = page.out_dir / "singlefile.html"
        path.write_text(text, encoding="utf-8")
        host = urlsplit(page.final_url).hostname or "page"
        return ExtractorOutput(
            status="succeeded",
            output_str=f"singlefile.html ({len(text.encode('utf-8'))} bytes, {host})",
            files=[OutputFile("singlefile.html", path, "text/html; charset=utf-8")],
        )
