"""Waiting for a loaded page to settle: a quiet window, not a fixed moment.

Pages keep working after `load`: a fetch two seconds later, content pushed
over a WebSocket, a lazy image a debounced scroll listener asks for. A page is
settled once, for `quiet` seconds, no request was in flight or started (long-
lived ones - WebSocket, EventSource, media - do not count), the DOM did not
change and the layout did not shift, and no short timer (`setTimeout` due
before the `maximum`, and not a callback that keeps re-arming itself) is still
pending; never before `minimum` after load,
never more than `maximum` after the wait began. DOM mutations, layout shifts and pending timers are
watched by `WATCH_JS`, installed in every document before the page's own
scripts run.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from extractors.engine.recorder import NetworkRecorder

POLL = 0.1
PROBE_TIMEOUT = 1.0
TIMER_HORIZON_MS = 15_000  # timers further out than this never hold the capture

WATCH_JS = (
    """
(() => {
  if (window.__amberSettle) return;
  let last = performance.now();
  const touch = () => { last = performance.now(); };
  const timers = new Map();
  const HORIZON = """
    + str(TIMER_HORIZON_MS)
    + """;
  const observe = () => new MutationObserver(touch).observe(document,
    {subtree: true, childList: true, attributes: true, characterData: true});
  observe();
  try {
    new PerformanceObserver((list) => {
      if (list.getEntries().some((e) => !e.hadRecentInput)) touch();
    }).observe({type: 'layout-shift', buffered: true});
  } catch (e) {}
  const nativeSet = window.setTimeout, nativeClear = window.clearTimeout;
  const armed = new WeakMap();  // a callback re-armed again and again is a loop: not waited for
  window.setTimeout = function setTimeout(fn, delay, ...args) {
    const ms = Number(delay) || 0;
    let id;
    const wrapped = typeof fn === 'function'
      ? function () { timers.delete(id); return fn.apply(this, arguments); }
      : fn;
    id = nativeSet.call(window, wrapped, delay, ...args);
    if (typeof fn === 'function' && ms > 0 && ms <= HORIZON) {
      const times = (armed.get(fn) || 0) + 1;
      armed.set(fn, times);
      if (times <= 2) timers.set(id, performance.now() + ms);
    }
    return id;
  };
  window.clearTimeout = function clearTimeout(id) {
    timers.delete(id);
    return nativeClear.call(window, id);
  };
  Object.defineProperty(window, '__amberSettle', {
    enumerable: false,
    value: () => {
      const now = performance.now();
      let next = -1;
      for (const due of timers.values()) {
        if (due < now - 1000) continue;
        next = next < 0 ? due - now : Math.min(next, due - now);
      }
      return {idle: now - last, timer: next};
    },
  });
})();
"""
)


@dataclass(slots=True)
class SettleReport:
    """How the wait ended: quiet, or cut off by the maximum."""

    quiet: bool
    waited: float


async def wait_for_settle(
    page: Page,
    recorder: NetworkRecorder,
    *,
    loaded_at: float,
    minimum: float,
    quiet: float,
    maximum: float,
) -> SettleReport:
    """Poll the network and the page until they were quiet together for `quiet` seconds."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + maximum
    while True:
        now = loop.time()
        if now >= deadline:
            return SettleReport(quiet=False, waited=now - started)
        probe = await _probe(page)
        now = loop.time()
        page_idle, timer = probe if probe is not None else (quiet, -1.0)
        timer_pending = timer >= 0 and now + timer < deadline
        if (
            now - loaded_at >= minimum
            and recorder.quiet_for() >= quiet
            and page_idle >= quiet
            and not timer_pending
        ):
            return SettleReport(quiet=True, waited=now - started)
        await asyncio.sleep(POLL)


async def _probe(page: Page) -> tuple[float, float] | None:
    """Seconds since the DOM or layout last changed, and until the next short timer."""
    with contextlib.suppress(PlaywrightError, TimeoutError):
        answer = await asyncio.wait_for(
            page.evaluate("() => window.__amberSettle ? window.__amberSettle() : null"),
            timeout=PROBE_TIMEOUT,
        )
        if isinstance(answer, dict):
            return float(answer.get("idle", 0)) / 1000, float(answer.get("timer", -1)) / 1000
    return None
