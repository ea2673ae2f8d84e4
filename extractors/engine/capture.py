"""One capture: a fresh browser context, the URL loaded once, the extractors run on that page.

The load sequence (`capture_page`): navigate to `load`; `run_behaviours` (the hook
where page behaviours run); the lazy scroll; wait for the page to settle (a quiet
window between a minimum and a maximum, `settle`); start fetching the responsive
candidates; run the extractors; then, before the WARC is written, a final quiet
period and the completion of bodies the browser did not keep whole (`refetch`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Dialog, Download, Page
from playwright.async_api import Error as PlaywrightError

from crawler.errors import CaptureError, CaptureTimeout, PageTooLarge
from crawler.urls import check_fetch_allowed
from extractors.base import Extractor
from extractors.behaviours import run_behaviours as run_page_behaviours
from extractors.engine.candidates import fetch_candidates
from extractors.engine.egress import EgressGuard
from extractors.engine.page import (
    PAGE_FACTS_JS,
    CaptureOutcome,
    CaptureRequest,
    LoadedPage,
    playwright_errors,
)
from extractors.engine.persona import apply_persona
from extractors.engine.recorder import Exchange, NetworkRecorder
from extractors.engine.refetch import ExtraBudget, complete_bodies, refetch
from extractors.engine.schedule import run_extractors
from extractors.engine.scroll import lazy_scroll
from extractors.engine.settle import WATCH_JS, wait_for_settle

VIEWPORT = {"width": 1280, "height": 800}
DOWNLOAD_START = 5.0  # seconds between "Download is starting" and the download event


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
            # The navigation can fail ("Download is starting") before the download event:
            # wait for that same pending `download` task (a second `downloads.get()` would
            # lose the item to it), and name the real cause if it never comes.
            if download not in done:
                try:
                    await asyncio.wait_for(asyncio.shield(download), timeout=DOWNLOAD_START)
                except TimeoutError:
                    raise CaptureError(
                        f"{request.url} started a download that never began "
                        f"(nothing within {DOWNLOAD_START:.0f}s)"
                    ) from None
            item = download.result()
            with playwright_errors(request.url):
                path = await item.path()
                failure = await item.failure()
            if failure:
                raise CaptureError(f"download of {request.url} failed: {failure}")
            # Playwright deletes its download artifacts when the context closes, which
            # happens before the outputs are stored: keep the file in the capture's workdir.
            kept = request.workdir / "download" / Path(path).name
            kept.parent.mkdir(parents=True, exist_ok=True)
            with playwright_errors(request.url):
                await item.save_as(kept)
            return kept
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


def _keep_download_body(recorder: NetworkRecorder, url: str, path: Path) -> None:
    """A download's bytes are its response body when the browser kept none.

    Chromium hands a download (an attachment, a type it cannot show) to its
    download manager: the response may never finish loading for the recorder,
    so the WARC would hold the right headers with an empty body.
    """
    chain = recorder.main_exchanges(url)
    last = chain[-1] if chain else None
    if last is not None and last.response is not None and last.response.body_path is None:
        last.response.body_path = path
        last.finished = True


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
            # Allowed so pages whose content a service worker serves are captured; what the
            # worker answers reaches the page's Network domain and the worker's script
            # is fetched for the WARC (`_keep_service_workers`).
            service_workers="allow",
            accept_downloads=True,
            viewport=VIEWPORT,  # type: ignore[arg-type]
            user_agent=desktop_user_agent(browser.version),
        )
        try:
            await context.add_init_script(WATCH_JS)
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
        if request.storage_state:
            with playwright_errors(request.url):
                await apply_persona(context, request.storage_state)
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
        if download_path is not None:
            _keep_download_body(recorder, request.url, download_path)
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
        # What the engine fetches on its own stays within the page's byte budget too.
        budget = ExtraBudget(
            min(request.settle.extra_bytes, max(0, request.max_bytes - recorder.received_bytes))
        )
        extras: asyncio.Future[int] | None = None
        if loaded.is_html:
            await _settle(loaded, deadline=deadline)
            extras = asyncio.ensure_future(fetch_candidates(page, context, recorder, budget))
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

        async def before_warc() -> None:
            """A final quiet period, so what the extractors triggered is in the WARC too."""
            if extras is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        asyncio.shield(extras), timeout=max(0.5, remaining() * 0.3)
                    )
            quiet = request.settle.quiet if loaded.is_html else 0.05
            await recorder.wait_idle(quiet=quiet, timeout=max(0.2, min(5.0, remaining() * 0.2)))
            await recorder.settle(timeout=max(0.5, min(10.0, remaining() * 0.3)))
            notes.extend(await complete_bodies(context, recorder, budget))
            await _keep_service_workers(context, recorder, budget)

        try:
            outcome.outputs = await run_extractors(
                request.plugins, extractors, loaded, before_last=before_warc
            )
        finally:
            if extras is not None and not extras.done():
                extras.cancel()
        return outcome
    finally:
        # Closing a context takes a round trip; nothing waits for it.
        closing = asyncio.ensure_future(prepared.close())
        _CLOSING.add(closing)
        closing.add_done_callback(_CLOSING.discard)


_CLOSING: set[asyncio.Future[None]] = set()


async def run_behaviours(loaded: LoadedPage, *, deadline: float) -> None:
    """The hook for page behaviours (consent, site-specific hooks): after load, before the scroll.

    Whatever runs here has until `deadline` (loop time); the scroll and the settle
    wait come after it, so what a behaviour triggers is waited for and recorded.
    """
    request = loaded.request
    budget = max(0.5, min(request.behaviour_budget, deadline - asyncio.get_running_loop().time()))
    loaded.behaviours = await run_page_behaviours(
        loaded.page, loaded.final_url, enabled=request.behaviours, budget=budget
    )


async def _settle(loaded: LoadedPage, *, deadline: float) -> None:
    """Behaviours, the lazy scroll and the quiet window, then the title and icon facts."""
    loop = asyncio.get_running_loop()
    loaded_at = loop.time()
    options = loaded.request.settle
    page, notes = loaded.page, loaded.notes
    remaining = lambda: deadline - loop.time()  # noqa: E731
    await run_behaviours(loaded, deadline=loaded_at + remaining() * 0.3)
    scroll = await lazy_scroll(
        page,
        pause=options.scroll_pause,
        height=options.scroll_height,
        load_more=options.load_more,
        budget=max(0.5, min(options.maximum * 2, remaining() * 0.3)),
    )
    if scroll.clicks:
        notes.append(f"clicked a load-more control {scroll.clicks} times")
    report = await wait_for_settle(
        page,
        loaded.recorder,
        loaded_at=loaded_at,
        minimum=min(options.minimum, max(0.0, remaining() * 0.3)),
        quiet=options.quiet,
        maximum=max(options.quiet, min(options.maximum, remaining() * 0.4)),
    )
    if not report.quiet:
        notes.append(f"page was still changing after {report.waited:.1f}s; captured anyway")
    # Without facts now, `LoadedPage.facts()` asks again later: a slow page is no failure.
    with playwright_errors(loaded.request.url), contextlib.suppress(CaptureTimeout, TimeoutError):
        loaded.remember_facts(
            await asyncio.wait_for(
                page.evaluate(PAGE_FACTS_JS), timeout=max(0.5, remaining() * 0.1)
            )
        )


async def _keep_service_workers(
    context: BrowserContext, recorder: NetworkRecorder, budget: ExtraBudget
) -> None:
    """The scripts of the service workers the page registered (their fetches are not the page's)."""
    have = {e.url for e in recorder.exchanges if e.response is not None}
    for worker in context.service_workers:
        if worker.url in have or not worker.url.startswith(("http://", "https://")):
            continue
        headers = [("Service-Worker", "script"), ("Accept", "*/*")]
        exchange: Exchange | None = await refetch(
            context, recorder, worker.url, headers=headers, budget=budget
        )
        if exchange is not None:
            exchange.resource_type = "Script"
            recorder.add_exchange(exchange)


async def _dismiss(dialog: Dialog) -> None:
    """alert/confirm/prompt are dismissed; beforeunload is accepted so the page can close."""
    with contextlib.suppress(PlaywrightError):
        if dialog.type == "beforeunload":
            await dialog.accept()
        else:
            await dialog.dismiss()
