"""The engine's vocabulary: what a capture is asked for, the page extractors read, what comes out.

Playwright's errors are translated into Amber's here, once (`playwright_errors`),
for every module of the engine that talks to the page.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from crawler.errors import BrowserCrashed, CaptureError, CaptureTimeout
from crawler.urls import Network
from extractors.base import ExtractorOutput
from extractors.behaviours import BehaviourRun
from extractors.engine.recorder import Exchange, HttpResponse, NetworkRecorder
from extractors.engine.serialise import rendered_extra_text, serialise_page

HTML_TYPES = ("text/html", "application/xhtml+xml")
TRANSIENT_NET_ERRORS = (
    "ERR_CONNECTION_RESET",
    "ERR_CONNECTION_REFUSED",
    "ERR_CONNECTION_CLOSED",
    "ERR_NETWORK_CHANGED",
    "ERR_EMPTY_RESPONSE",
    "ERR_NAME_NOT_RESOLVED",
)

# What the title and favicon extractors read, taken in the same round trip as the
# scroll: after lazy content arrived, and without queueing more work on the page while
# the screenshot renders. The title comes from Document.prototype's own getter, so a
# page script that shadows `document.title` cannot change what is archived.
PAGE_FACTS_JS = """
() => {
  const title = Object.getOwnPropertyDescriptor(Document.prototype, 'title').get.call(document);
  const icon = [...document.querySelectorAll('link[rel]')].find((l) =>
    /(^|\\s)(shortcut\\s+)?icon(\\s|$)/i.test(l.rel) || /apple-touch-icon/i.test(l.rel));
  const meta = document.querySelector('meta[property="og:title"], meta[name="twitter:title"]');
  const h1 = document.querySelector('h1');
  return {
    title: title || '',
    heading: (meta && meta.content) || (h1 && h1.textContent) || '',
    icon: icon ? icon.href : '',
  };
}
"""


@dataclass(frozen=True, slots=True)
class SettleOptions:
    """How long a loaded page is given to finish what it does after `load` (see `settle`).

    `minimum` counts from the load event; the page is settled once nothing changed
    (requests, DOM, layout) for `quiet` seconds and no short timer is pending, or
    when `maximum` runs out. The lazy scroll pauses `scroll_pause` per step, up to
    `scroll_height` pixels, and clicks "load more" controls up to `load_more` times.
    `extra_bytes` bounds what is fetched besides what the page asked for (responsive
    candidates, whole media for ranges, bodies the browser did not keep).
    """

    minimum: float = 2.0
    quiet: float = 0.5
    maximum: float = 10.0
    scroll_pause: float = 0.3
    scroll_height: int = 30_000
    load_more: int = 3
    extra_bytes: int = 50 * 1024 * 1024


@dataclass(slots=True)
class CaptureRequest:
    url: str
    plugins: tuple[str, ...]
    workdir: Path
    timeout: float
    max_bytes: int
    allowed_networks: tuple[Network, ...] = ()
    settle: SettleOptions = field(default_factory=lambda: SettleOptions())
    behaviours: bool = True  # run the page behaviours (consent, per-site hooks) after load
    behaviour_budget: float = 5.0
    # A persona's cookies and local storage (crawler.personas); never printed.
    storage_state: dict[str, Any] | None = field(default=None, repr=False)


@dataclass(slots=True)
class CaptureOutcome:
    final_url: str
    status_code: int | None
    outputs: dict[str, ExtractorOutput] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class LoadedPage:
    """The one loaded page every extractor reads from."""

    request: CaptureRequest
    page: Page
    context: BrowserContext
    recorder: NetworkRecorder
    main_chain: list[Exchange]
    browser_version: str
    download_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    behaviours: list[BehaviourRun] = field(default_factory=list)
    # The full-page PNG once the screenshot extractor wrote it: the thumbnail is cut from
    # it rather than asking Chromium for a second picture of the same page.
    screenshot_path: Path | None = None
    _html: str | None = None
    _html_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _facts: dict[str, str] | None = None

    @property
    def main_response(self) -> HttpResponse | None:
        for hop in reversed(self.main_chain):
            if hop.response is not None:
                return hop.response
        return None

    @property
    def final_url(self) -> str:
        return self.main_chain[-1].url if self.main_chain else self.request.url

    @property
    def mimetype(self) -> str:
        response = self.main_response
        if response is None:
            return "text/html"
        for name, value in response.headers:
            if name.lower() == "content-type":
                return value.split(";")[0].strip().lower()
        return (response.mimetype or "application/octet-stream").lower()

    @property
    def is_html(self) -> bool:
        return self.download_path is None and self.mimetype in HTML_TYPES

    @property
    def out_dir(self) -> Path:
        return self.request.workdir / "out"

    async def html(self) -> str:
        """The serialised DOM, taken once and shared by every extractor that reads it.

        Open shadow roots come out as declarative shadow DOM and each iframe carries its
        own document as `srcdoc`, so what was rendered is in the file (see `serialise`).
        """
        async with self._html_lock:
            if self._html is None:
                self._html = await serialise_page(self.page)
        return self._html

    async def extra_text(self) -> str:
        """Text rendered from open shadow roots and iframes, which `innerText` misses."""
        return await rendered_extra_text(self.page)

    async def facts(self) -> dict[str, str]:
        """Title, heading and icon URL: from the scroll's round trip, or asked for now."""
        if self._facts is None:
            answer = as_facts(await self.page.evaluate(PAGE_FACTS_JS))
            self._facts = answer or {"title": "", "heading": "", "icon": ""}
        return self._facts

    def remember_facts(self, value: object) -> None:
        """Keep facts the auto-scroll already read, so `facts()` costs no round trip."""
        self._facts = as_facts(value)


def as_facts(value: object) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    return {key: str(value.get(key) or "") for key in ("title", "heading", "icon")}


@contextlib.contextmanager
def playwright_errors(url: str) -> Iterator[None]:
    """Translate Playwright's errors into Amber's, once, at the browser boundary."""
    try:
        yield
    except PlaywrightError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        lowered = message.lower()
        if "err_too_many_redirects" in lowered:
            raise CaptureError(f"redirect loop: too many redirects loading {url}") from exc
        if "has been closed" in lowered or "target crashed" in lowered or "crash" in lowered:
            raise BrowserCrashed(f"browser closed or crashed: {message}") from exc
        if "timeout" in lowered:
            raise CaptureTimeout(f"timed out loading {url}: {message}") from exc
        transient = any(code in message for code in TRANSIENT_NET_ERRORS)
        raise CaptureError(f"failed to load {url}: {message}", transient=transient) from exc
