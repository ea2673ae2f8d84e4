"""Waiting for a loaded page to settle: a quiet window, not a fixed moment.

Pages keep working after `load`: a fetch two seconds later, content pushed
over a WebSocket, a lazy image a debounced scroll listener asks for. A page is
settled once, for `quiet` seconds, no request was in flight or started (long-
lived ones - WebSocket, EventSource, media - do not count), the DOM did not
change and the layout did not shift, no short timer (`setTimeout` due before
the `maximum`, and not a callback that keeps re-arming itself) is pending and no
service worker is installing; never before `minimum` after load,
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
  // A timer set from a timer's callback, again and again, is a loop: from the third
  // generation on it is not waited for. A debounce (set from an event) always is.
  let depth = 0;
  window.setTimeout = function setTimeout(fn, delay, ...args) {
    const ms = Number(delay) || 0;
    const mine = depth + 1;
    let id;
    const wrapped = typeof fn === 'function'
      ? function () {
        timers.delete(id);
        const outer = depth;
        depth = mine;
        try { return fn.apply(this, arguments); } finally { depth = outer; }
      }
      : fn;
    id = nativeSet.call(window, wrapped, delay, ...args);
    if (typeof fn === 'function' && ms > 0 && ms <= HORIZON && mine <= 3) {
      timers.set(id, performance.now() + ms);
    }
    return id;
  };
  window.clearTimeout = function clearTimeout(id) {
    timers.delete(id);
    return nativeClear.call(window, id);
  };
  // Who listens to the document scrolling (the lazy scroll pauses for debounced or throttled
  // listeners only where one exists), and the page's fetches and XHRs still in flight.
  let scrollListeners = 0, fetching = 0;
  const SCROLLING = new Set(['scroll', 'scrollend']);
  const nativeAdd = EventTarget.prototype.addEventListener;
  EventTarget.prototype.addEventListener = function addEventListener(type, ...rest) {
    if (SCROLLING.has(String(type)) && (this === window || this === document ||
        this instanceof HTMLHtmlElement || this instanceof HTMLBodyElement)) scrollListeners++;
    return nativeAdd.call(this, type, ...rest);
  };
  const nativeFetch = window.fetch;
  if (nativeFetch) {
    window.fetch = function fetch(...args) {
      const answer = nativeFetch.apply(this, args);
      fetching++;
      const done = () => { fetching--; };
      answer.then(done, done);
      return answer;
    };
  }
  const nativeSend = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function send(...args) {
    fetching++;
    nativeAdd.call(this, 'loadend', () => { fetching--; }, {once: true});
    try { return nativeSend.apply(this, args); } catch (e) { fetching--; throw e; }
  };
  // A service worker installing: its fetches are not the page's, but what it will serve is.
  let busy = 0;
  const container = window.ServiceWorkerContainer && ServiceWorkerContainer.prototype;
  if (container && container.register) {
    const nativeRegister = container.register;
    container.register = function register(...args) {
      busy++;
      let done = false;
      const finish = () => { if (!done) { done = true; busy--; touch(); } };
      nativeSet.call(window, finish, HORIZON);
      const registered = nativeRegister.apply(this, args);
      registered.then((reg) => {
        const worker = reg.installing || reg.waiting || reg.active;
        if (!worker || worker.state === 'activated') return finish();
        worker.addEventListener('statechange', () => {
          if (worker.state === 'activated' || worker.state === 'redundant') finish();
        });
      }, finish);
      return registered;
    };
  }
  // Amber's own waits in the page (scroll.py), on the untracked clock: they are not the page's.
  Object.defineProperty(window, '__amberSleep', {
    enumerable: false,
    value: (ms) => new Promise((resolve) => nativeSet.call(window, resolve, ms)),
  });
  Object.defineProperty(window, '__amberSettle', {
    enumerable: false,
    value: () => {
      const now = performance.now();
      let next = null;
      for (const due of timers.values()) {
        if (due < now - 1000) continue;  // long overdue: the page's loop is stuck, not waiting
        next = next === null ? due - now : Math.min(next, due - now);
      }
      const listening = scrollListeners > 0 || !!(window.onscroll || document.onscroll);
      return {idle: now - last, timer: next, busy, listening, fetching: Math.max(0, fetching)};
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
    # Nothing ends the wait before `minimum` after load, and the page keeps its own clock
    # of the last change, so there is nothing to ask it until then: probing all along cost
    # ~20 round trips per page (Python -> Playwright's driver -> browser -> renderer).
    first_look = min(loaded_at + minimum, deadline)
    if first_look > started:
        await asyncio.sleep(first_look - started)
    while True:
        now = loop.time()
        if now >= deadline:
            return SettleReport(quiet=False, waited=now - started)
        probe = await _probe(page)
        now = loop.time()
        page_idle, timer, busy = probe if probe is not None else (quiet, None, False)
        timer_pending = timer is not None and now + max(0.0, timer) < deadline
        if (
            now - loaded_at >= minimum
            and recorder.quiet_for() >= quiet
            and page_idle >= quiet
            and not timer_pending
            and not busy
        ):
            return SettleReport(quiet=True, waited=now - started)
        await asyncio.sleep(POLL)


async def _probe(page: Page) -> tuple[float, float | None, bool] | None:
    """Seconds since the DOM or layout last changed, until the next short timer, and
    whether a service worker is still installing."""
    with contextlib.suppress(PlaywrightError, TimeoutError):
        answer = await asyncio.wait_for(
            page.evaluate("() => window.__amberSettle ? window.__amberSettle() : null"),
            timeout=PROBE_TIMEOUT,
        )
        if isinstance(answer, dict):
            timer = answer.get("timer")
            return (
                float(answer.get("idle") or 0) / 1000,
                None if timer is None else float(timer) / 1000,
                bool(answer.get("busy")),
            )
    return None
