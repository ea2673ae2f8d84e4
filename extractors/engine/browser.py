"""One long-lived Chromium per worker process, driven from its own event-loop thread.

Dramatiq's worker threads call `capture()` concurrently; each capture runs as a
coroutine on the browser thread's loop in its own browser context, so several
pages load in parallel on one browser. If Chromium dies it is relaunched on the
next capture. Every context connects through an `EgressGuard` (one per
allow-list) so no request reaches an address the allow-list refuses.

A long-lived Chromium grows (caches, leaked renderers), so it is recycled:
after `recycle_pages` captures, or once its processes' memory (PSS) passes `recycle_mb`
(checked every RSS_CHECK_EVERY captures). The next capture launches a fresh
browser while the old one finishes the captures still running on it, and is
closed when the last one ends; no capture is cut short by a recycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import psutil
from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from crawler.errors import BrowserCrashed, CaptureError, CaptureTimeout
from crawler.urls import Network
from extractors.base import Extractor
from extractors.engine.admission import AdmissionGate
from extractors.engine.capture import PreparedPage, capture_page, prepare_page
from extractors.engine.egress import EgressGuard
from extractors.engine.page import CaptureOutcome, CaptureRequest

log = logging.getLogger(__name__)

# What Chromium needs on a closed network (the project brief's list); bench/capture.py's
# floor runs on these alone, as a bare Playwright user would.
BRIEF_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

CHROMIUM_FLAGS = (
    *BRIEF_FLAGS,
    "--disable-dev-shm-usage",
    # Chromium keeps only the last --disable-features, so this one must repeat Playwright's
    # own list (chromiumSwitches.ts) besides ours: HttpsUpgrades would turn an http:// URL
    # into a different capture, and AvoidCorsURLLoaderRestartOnRedirect aborts preflighted
    # cross-origin redirects while Fetch interception is on.
    "--disable-features="
    + ",".join(
        (
            "site-per-process",
            "IsolateOrigins",
            "Translate",
            "MediaRouter",
            "AvoidUnnecessaryBeforeUnloadCheckSync",
            "DestroyProfileOnBrowserClose",
            "HttpsUpgrades",
            "HttpsFirstBalancedModeAutoEnable",
            "LensOverlay",
            "PaintHolding",
            "ThirdPartyStoragePartitioning",
            "AvoidCorsURLLoaderRestartOnRedirect",
            "OptimizationHints",
            "NetworkTimeServiceQuerying",
            "AimEnabled",
            "PreconnectToSearch",
            # Every new context opens a window whose omnibox popup is a WebUI page (Lit, ~200
            # chrome:// modules) in a renderer of its own: ~400 ms of CPU per capture, for a
            # popup headless never shows. Only all four together keep it from loading.
            "WebUIOmniboxPopup",
            "WebUIOmniboxFullPopup",
            "WebUIOmniboxAimPopup",
            "PreloadTopChromeWebUI",
        )
    ),
    "--disable-site-isolation-trials",
    "--hide-scrollbars",
    "--mute-audio",
    # WebRTC's UDP would go around the egress guard; keep it on the (guarded) proxy.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)


SPARE_WAIT = 5.0
RSS_CHECK_EVERY = 10


def memory_mb(pids: list[int]) -> float:
    """Memory of these processes in MiB: PSS, RSS where PSS cannot be read (gone: 0).

    PSS splits shared pages between the processes sharing them. Summed RSS counts
    Chromium's shared memory once per process: with 12 pages in flight it read
    4-5 GB while PSS was ~1 GB, and the 10,000-page soak recycled every ~48 pages.
    """
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            try:
                total += process.memory_full_info().pss
            except (psutil.AccessDenied, AttributeError):
                total += process.memory_info().rss
    return total / (1024 * 1024)


class BrowserService:
    def __init__(
        self,
        *,
        executable_path: str | None,
        extractors: Mapping[str, Extractor],
        extra_args: tuple[str, ...] = (),
        recycle_pages: int = 0,
        recycle_mb: int = 0,
        busy_percent: float = 100.0,
        memory_floor_mb: float = 0.0,
    ) -> None:
        self.executable_path = executable_path
        # Pages start while the CPUs are under `busy_percent` busy (100: whenever called)
        # and at least `memory_floor_mb` MiB are available (0: whatever is left).
        self.gate = AdmissionGate(busy_percent=busy_percent, memory_floor_mb=memory_floor_mb)
        self.extractors = extractors
        self.args = CHROMIUM_FLAGS + extra_args
        self.recycle_pages = recycle_pages
        self.recycle_mb = recycle_mb
        self.restarts = 0
        self.launches = 0
        self.recycles = 0
        self.last_rss_mb = 0.0
        self._pages = 0  # captures finished on the current browser
        self._inflight: dict[int, int] = {}  # id(browser) -> captures running on it
        self._retiring: dict[int, Browser] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="amber-browser", daemon=True)
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._lock: asyncio.Lock | None = None
        self._started = False
        self._spare: asyncio.Task[PreparedPage] | None = None
        self._guards: dict[tuple[Network, ...], EgressGuard] = {}
        self._guards_lock = threading.Lock()

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def warm(self) -> None:
        """Begin launching Chromium and return at once: `amber add` sets up its store
        while the browser starts, instead of one after the other. `start` waits for it."""
        if not self._started:
            self._thread.start()
            self._started = True
        asyncio.run_coroutine_threadsafe(self._ensure_browser(), self._loop)

    def start(self) -> None:
        if not self._started:
            self._thread.start()
            self._started = True
        self._call(self._ensure_browser(), timeout=60)

    def _call(self, coro: Any, *, timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout as exc:
            future.cancel()
            raise CaptureTimeout(f"capture exceeded its budget of {timeout:.0f}s") from exc

    async def _ensure_browser(self) -> Browser:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._browser is not None:
                self.restarts += 1
                log.warning("Chromium disconnected; relaunching (restart #%d)", self.restarts)
            try:
                if self._playwright is None:
                    self._playwright = await async_playwright().start()
                self._browser = await self._playwright.chromium.launch(
                    executable_path=self.executable_path,
                    args=list(self.args),
                    headless=True,
                )
            except PlaywrightError as exc:
                raise BrowserCrashed(f"cannot launch Chromium: {str(exc).splitlines()[0]}") from exc
            self.launches += 1
            self._pages = 0
            return self._browser

    def guard_for(self, networks: tuple[Network, ...]) -> EgressGuard:
        """The egress guard enforcing this allow-list, started on first use."""
        with self._guards_lock:
            guard = self._guards.get(networks)
            if guard is None:
                guard = self._guards[networks] = EgressGuard(networks).start()
            return guard

    async def _capture(self, request: CaptureRequest) -> CaptureOutcome:
        """Capture on the live browser; if it died under us, relaunch and try once more."""
        guard = self.guard_for(request.allowed_networks)
        for attempt in (1, 2):
            browser = await self._ensure_browser()
            key = id(browser)
            self._inflight[key] = self._inflight.get(key, 0) + 1
            try:
                prepared = await self._take_spare(browser, guard)
                return await asyncio.wait_for(
                    capture_page(browser, request, self.extractors, guard, prepared),
                    timeout=request.timeout,
                )
            except TimeoutError as exc:
                raise CaptureTimeout(
                    f"capture of {request.url} exceeded its budget of {request.timeout:.0f}s"
                ) from exc
            except BrowserCrashed:
                await self._discard(browser)
                if attempt == 2:
                    raise
            finally:
                await self._after_capture(browser)
        raise AssertionError("unreachable")

    async def _after_capture(self, browser: Browser) -> None:
        """Count the capture; recycle the browser when due; close a drained retired one."""
        key = id(browser)
        self._inflight[key] -= 1
        if self._browser is browser:
            self._pages += 1
            if await self._recycle_due(browser):
                await self._retire(browser)
        if self._inflight[key] > 0:
            return
        if key in self._retiring:
            await self._close_retired(key)
        elif self._browser is not browser:
            del self._inflight[key]  # a crashed browser: nothing left to wait for

    async def _recycle_due(self, browser: Browser) -> bool:
        if self.recycle_pages and self._pages >= self.recycle_pages:
            return True
        if self.recycle_mb and self._pages % RSS_CHECK_EVERY == 0:
            self.last_rss_mb = memory_mb(await self._process_ids(browser))
            return self.last_rss_mb > self.recycle_mb
        return False

    async def _retire(self, browser: Browser) -> None:
        """Stop handing out this browser; the next capture launches a new one."""
        self._browser = None
        self._retiring[id(browser)] = browser
        self.recycles += 1
        log.info("recycling Chromium after %d captures (recycle #%d)", self._pages, self.recycles)
        await self._drop_spare()

    async def _close_retired(self, key: int) -> None:
        browser = self._retiring.pop(key)
        self._inflight.pop(key, None)
        with contextlib.suppress(PlaywrightError):
            await browser.close()

    @staticmethod
    async def _process_ids(browser: Browser) -> list[int]:
        """Chromium's own list of its processes (browser, renderers, GPU, utilities)."""
        try:
            session = await browser.new_browser_cdp_session()
            info = await session.send("SystemInfo.getProcessInfo")
            await session.detach()
        except PlaywrightError:
            return []
        return [int(p["id"]) for p in info.get("processInfo", []) if p.get("id")]

    def process_ids(self) -> list[int]:
        """The live browser's process ids, from any thread (benchmarks and tests read RSS)."""
        if self._browser is None:
            return []
        ids: list[int] = self._call(self._process_ids(self._browser), timeout=30)
        return ids

    async def _take_spare(self, browser: Browser, guard: EgressGuard) -> PreparedPage | None:
        """Hand out the context prepared during the previous capture and start the next one.

        Opening a context and its first page costs a renderer start-up (~150 ms);
        preparing it while the previous page is still being extracted hides that.
        The next spare is aimed at this capture's guard: the allow-list rarely changes.
        """
        spare, self._spare = self._spare, None
        self._spare = asyncio.ensure_future(prepare_page(browser, guard))
        if spare is None:
            return None
        try:
            # A spare made on a browser that has just died may never finish: bound the wait.
            prepared = await asyncio.wait_for(spare, timeout=SPARE_WAIT)
        except (CaptureError, PlaywrightError, TimeoutError):
            return None
        if prepared.context.browser is not browser or prepared.guard is not guard:
            await prepared.close()
            return None
        return prepared

    async def _drop_spare(self) -> None:
        spare, self._spare = self._spare, None
        if spare is None:
            return
        try:
            prepared = await asyncio.wait_for(spare, timeout=SPARE_WAIT)
        except (CaptureError, PlaywrightError, asyncio.CancelledError, TimeoutError):
            return
        await prepared.close()

    async def _discard(self, browser: Browser) -> None:
        """Forget a dead browser so the next capture launches a fresh one."""
        await self._drop_spare()
        if self._browser is browser:
            self._browser = None
            self.restarts += 1
            log.warning("Chromium crashed; relaunching (restart #%d)", self.restarts)
            with contextlib.suppress(PlaywrightError):
                await browser.close()

    def capture(self, request: CaptureRequest) -> CaptureOutcome:
        """Blocking: run one capture on the browser thread (safe from any thread)."""
        if not self._started:
            self.start()
        with self.gate.slot():  # before the budget starts: waiting here is not running late
            outcome: CaptureOutcome = self._call(
                self._capture(request), timeout=request.timeout + 30
            )
        return outcome

    def kill_browser(self) -> None:
        """SIGKILL Chromium's browser process (tests use this to prove we recover)."""

        async def _kill() -> None:
            if self._browser is None:
                return
            session = await self._browser.new_browser_cdp_session()
            info = await session.send("SystemInfo.getProcessInfo")
            for process in info.get("processInfo", []):
                if process.get("type") == "browser":
                    os.kill(int(process["id"]), signal.SIGKILL)

        self._call(_kill(), timeout=30)

    @property
    def version(self) -> str:
        return self._browser.version if self._browser else ""

    def stop(self) -> None:
        if not self._started:
            return

        async def _shutdown() -> None:
            if self._lock is not None:  # a launch `warm` began finishes first, then closes
                async with self._lock:
                    pass
            await self._drop_spare()
            for key in list(self._retiring):
                await self._close_retired(key)
            if self._browser is not None:
                with contextlib.suppress(PlaywrightError):
                    await self._browser.close()
            if self._playwright is not None:
                await self._playwright.stop()

        try:
            self._call(_shutdown(), timeout=30)
        except CaptureError:
            log.warning("browser did not shut down in time")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._started = False
        with self._guards_lock:
            for guard in self._guards.values():
                guard.stop()
            self._guards.clear()
