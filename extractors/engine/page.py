"""Loads a URL once in a fresh browser context and runs the extractors on that one page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Dialog, Download, Page
from playwright.async_api import Error as PlaywrightError

from crawler.errors import BrowserCrashed, CaptureError, CaptureTimeout, PageTooLarge
from crawler.urls import Network, check_fetch_allowed
from extractors.base import Extractor, ExtractorOutput
from extractors.engine.egress import EgressGuard
from extractors.engine.recorder import Exchange, HttpResponse, NetworkRecorder

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
VIEWPORT = {"width": 1280, "height": 800}
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

# One rendered frame per step is enough: lazy-loading (native or IntersectionObserver)
# decides during the frame's lifecycle, which has run by the time the timeout fires.
AUTOSCROLL_JS = (
    """
async (maxSteps) => {
  const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const root = document.scrollingElement || document.documentElement;
  if (root.scrollHeight > window.innerHeight + 2) {
    for (let i = 0; i < maxSteps; i++) {
      const before = root.scrollHeight;
      window.scrollBy(0, window.innerHeight);
      await frame();
      const atBottom = window.scrollY + window.innerHeight >= root.scrollHeight - 2;
      if (atBottom && root.scrollHeight === before) break;
    }
    window.scrollTo(0, 0);
  }
  return ("""
    + PAGE_FACTS_JS
    + """)();
}
"""
)


@dataclass(slots=True)
class CaptureRequest:
    url: str
    plugins: tuple[str, ...]
    workdir: Path
    timeout: float
    max_bytes: int
    allowed_networks: tuple[Network, ...] = ()


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
        """The serialised DOM, taken once and shared by every extractor that reads it."""
        async with self._html_lock:
            if self._html is None:
                self._html = await self.page.content()
        return self._html

    async def facts(self) -> dict[str, str]:
        """Title, heading and icon URL: from the scroll's round trip, or asked for now."""
        if self._facts is None:
            answer = _as_facts(await self.page.evaluate(PAGE_FACTS_JS))
            self._facts = answer or {"title": "", "heading": "", "icon": ""}
        return self._facts


def _as_facts(value: object) -> dict[str, str] | None:
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


async def _navigate(
    page: Page,
    recorder: NetworkRecorder,
    request: CaptureRequest,
    downloads: asyncio.Queue[Download],
    load_budget: float,
) -> Path | None:
    """Load the URL once. Returns the downloaded file when the browser treats it as a download."""
    nav = asyncio.ensure_future(
        page.goto(request.url, wait_until="load", timeout=load_budget * 1000)
    )
    budget = asyncio.ensure_future(recorder.over_budget.wait())
    download = asyncio.ensure_future(downloads.get())
    try:
        done, _ = await asyncio.wait({nav, budget, download}, return_when=asyncio.FIRST_COMPLETED)
        if budget in done:
            raise PageTooLarge(
                f"page exceeded its size budget of {request.max_bytes} bytes "
                f"({recorder.received_bytes} bytes received)"
            )
        if download in done or (
            nav in done and nav.exception() and "download" in str(nav.exception()).lower()
        ):
            item = (
                download.result()
                if download in done
                else await asyncio.wait_for(downloads.get(), timeout=5)
            )
            with playwright_errors(request.url):
                path = await item.path()
            if item.failure() if hasattr(item, "failure") else None:
                raise CaptureError(f"download of {request.url} failed")
            return Path(path)
        try:
            with playwright_errors(request.url):
                nav.result()
        except CaptureError as exc:
            raise recorder.explain(exc) from exc
        return None
    finally:
        for task in (nav, budget, download):
            if not task.done():
                task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(nav, budget, download, return_exceptions=True)


def desktop_user_agent(version: str) -> str:
    """Chromium's own desktop User-Agent, without the "HeadlessChrome" token.

    Some sites serve headless browsers a different (or a blocking) page; an
    archive should record what a person's browser would have been sent.
    """
    major = version.split(".", 1)[0] or "0"
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{major}.0.0.0 Safari/537.36"
    )


@dataclass(slots=True)
class PreparedPage:
    """A fresh context with its page and CDP session, made before it is needed."""

    context: BrowserContext
    page: Page
    recorder: NetworkRecorder
    downloads: asyncio.Queue[Download]
    guard: EgressGuard

    async def close(self) -> None:
        with contextlib.suppress(PlaywrightError, asyncio.CancelledError):
            await self.context.close()


async def prepare_page(browser: Browser, guard: EgressGuard) -> PreparedPage:
    """A new browser context per capture, so cookies, storage and workers never leak.

    Its traffic, the favicon fetch included, goes through `guard`.
    """
    with playwright_errors("about:blank"):
        context = await browser.new_context(
            proxy={"server": guard.server},
            service_workers="block",
            accept_downloads=True,
            viewport=VIEWPORT,  # type: ignore[arg-type]
            user_agent=desktop_user_agent(browser.version),
        )
        try:
            page = await context.new_page()
            cdp = await context.new_cdp_session(page)
            recorder = NetworkRecorder(cdp, guard=guard)
            await recorder.start()
        except BaseException:
            with contextlib.suppress(PlaywrightError):
                await context.close()
            raise
    page.on("dialog", lambda dialog: asyncio.ensure_future(_dismiss(dialog)))
    downloads: asyncio.Queue[Download] = asyncio.Queue()
    page.on("download", downloads.put_nowait)
    return PreparedPage(
        context=context, page=page, recorder=recorder, downloads=downloads, guard=guard
    )


async def capture_page(
    browser: Browser,
    request: CaptureRequest,
    extractors: Mapping[str, Extractor],
    guard: EgressGuard,
    prepared: PreparedPage | None = None,
) -> CaptureOutcome:
    """Load the page once in a fresh context, then run each requested extractor on it."""
    try:
        await asyncio.to_thread(check_fetch_allowed, request.url, request.allowed_networks)
        prepared = prepared or await prepare_page(browser, guard)
    except BaseException:
        if prepared is not None:
            await prepared.close()
        raise
    loop = asyncio.get_running_loop()
    deadline = loop.time() + request.timeout
    spool = request.workdir / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    (request.workdir / "out").mkdir(parents=True, exist_ok=True)
    context, page, downloads = prepared.context, prepared.page, prepared.downloads
    try:
        recorder = prepared.recorder
        recorder.configure(spool_dir=spool, max_bytes=request.max_bytes)
        notes: list[str] = []
        load_budget = max(2.0, request.timeout * 0.6)
        try:
            download_path = await _navigate(page, recorder, request, downloads, load_budget)
        except CaptureTimeout:
            chain = recorder.main_exchanges(request.url)
            if not chain or not chain[-1].finished or chain[-1].response is None:
                raise CaptureTimeout(
                    f"page did not finish loading within {load_budget:.0f}s: {request.url}"
                ) from None
            download_path = None
            notes.append(f"load event did not fire within {load_budget:.0f}s; captured anyway")
        remaining = lambda: deadline - loop.time()  # noqa: E731
        loaded = LoadedPage(
            request=request,
            page=page,
            context=context,
            recorder=recorder,
            main_chain=recorder.main_exchanges(request.url),
            browser_version=browser.version,
            download_path=download_path,
            notes=notes,
        )
        if loaded.is_html:
            with playwright_errors(request.url), contextlib.suppress(CaptureTimeout):
                loaded._facts = _as_facts(
                    await asyncio.wait_for(
                        page.evaluate(AUTOSCROLL_JS, 25),
                        timeout=max(0.5, min(6.0, remaining() * 0.3)),
                    )
                )
            await recorder.wait_idle(quiet=0.05, timeout=max(0.2, min(5.0, remaining() * 0.3)))
        await recorder.settle(timeout=max(0.5, min(10.0, remaining() * 0.5)))
        if recorder.over_budget.is_set():
            raise PageTooLarge(f"page exceeded its size budget of {request.max_bytes} bytes")
        loaded.main_chain = recorder.main_exchanges(request.url) or loaded.main_chain
        outcome = CaptureOutcome(
            final_url=loaded.final_url,
            status_code=loaded.main_response.status if loaded.main_response else None,
            blocked=recorder.blocked,
            notes=notes,
        )
        outcome.outputs = await _run_extractors(request.plugins, extractors, loaded)
        return outcome
    finally:
        # Closing a context takes a round trip; nothing waits for it.
        closing = asyncio.ensure_future(prepared.close())
        _CLOSING.add(closing)
        closing.add_done_callback(_CLOSING.discard)


_CLOSING: set[asyncio.Future[None]] = set()

PAGE_BOUND = ("screenshot", "pdf")  # change how the page renders: run one after the other
RUNS_LAST = ("warc",)  # sees every exchange, including ones other extractors made


async def _run_extractors(
    plugins: tuple[str, ...], extractors: Mapping[str, Extractor], loaded: LoadedPage
) -> dict[str, ExtractorOutput]:
    """Run extractors concurrently where they only read the page; keep registry order."""

    async def chain(names: list[str]) -> list[ExtractorOutput]:
        return [await _run_one(name, extractors[name], loaded) for name in names]

    bound = [n for n in plugins if n in PAGE_BOUND]
    last = [n for n in plugins if n in RUNS_LAST]
    free = [n for n in plugins if n not in PAGE_BOUND and n not in RUNS_LAST]
    groups = [chain(bound), *(chain([n]) for n in free)]
    done: dict[str, ExtractorOutput] = {}
    for outputs in await asyncio.gather(*groups):
        done.update({o.plugin: o for o in outputs})
    for output in await chain(last):
        done[output.plugin] = output
    return {name: done[name] for name in plugins}


async def _run_one(name: str, extractor: Extractor, loaded: LoadedPage) -> ExtractorOutput:
    from crawler.clock import utcnow

    started = utcnow()
    try:
        with playwright_errors(loaded.request.url):
            output = await extractor.extract(loaded)
    except BrowserCrashed:
        raise
    except (CaptureError, OSError, ValueError) as exc:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        output = ExtractorOutput(plugin=name, status="failed", error=message)
    output.plugin = name
    output.start_ts = started
    output.end_ts = utcnow()
    return output


async def _dismiss(dialog: Dialog) -> None:
    """alert/confirm/prompt are dismissed; beforeunload is accepted so the page can close."""
    with contextlib.suppress(PlaywrightError):
        if dialog.type == "beforeunload":
            await dialog.accept()
        else:
            await dialog.dismiss()
