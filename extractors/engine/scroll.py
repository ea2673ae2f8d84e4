"""Lazy and infinite pages: scroll down in steps slow enough for debounced listeners, then back.

A viewport per animation frame is too fast for a listener debounced by 250 ms
(it never fires) and jumping back to the top skips what a scroll-up listener
would load. So: step 80% of a viewport, pause `pause` seconds, and at the bottom
wait a moment for more content (infinite scroll). The pause is for listeners:
on a page where no script listens to the document scrolling (`WATCH_JS` counts
them), a step waits two frames, which is all the browser's lazy loading and an
IntersectionObserver need, plus any short timer they set; and the wait at the
bottom ends once no fetch, XHR, timer or DOM change is pending (a rich page's
scroll: 3.7 s -> well under one). When no content comes, click a
visible "load more"/"show more" button (never a link that navigates) up to
`load_more` times. Stop at `height` pixels or when the time budget is spent,
then scroll back up in steps. `settle` runs after this, so what the scroll
triggered is waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

SCROLL_JS = """
async ({pause, height, loadMore, budget}) => {
  const sleep = window.__amberSleep || ((ms) => new Promise((r) => setTimeout(r, ms)));
  const root = document.scrollingElement || document.documentElement;
  if (!root) return {steps: 0, clicks: 0, height: 0, paced: false};
  const started = performance.now();
  const late = () => performance.now() - started > budget;
  const step = Math.max(200, Math.floor(window.innerHeight * 0.8));
  const label = /^\\s*(load|show|see|view)\\s+(more|all|older)\\b|^\\s*more\\s*$/i;
  const controls = 'button, [role=button], input[type=button], ' +
    'a[href="#"], a[href^="javascript:"], a:not([href])';
  const findMore = () => [...document.querySelectorAll(controls)]
    .find((el) => !el.disabled && el.getClientRects().length > 0 &&
      label.test(el.innerText || el.value || ''));
  const watch = () => (window.__amberSettle ? window.__amberSettle() : null);
  // Only a scroll listener can be debounced or throttled by the clock. Without one, what
  // scrolling loads is the browser's own (loading=lazy, content-visibility) or an
  // IntersectionObserver's, both decided within a frame or two of each step.
  const listening = () => { const w = watch(); return !w || w.listening; };
  const frames = () => new Promise((resolve) => {
    requestAnimationFrame(() => requestAnimationFrame(resolve));
    sleep(100).then(resolve);  // no frames while the renderer is starved: go on anyway
  });
  let paced = false;
  const rest = async (ms) => {
    if (listening()) { paced = true; await sleep(ms); } else await frames();
  };
  // At the bottom: did more content arrive? A listener gets the whole wait; without one
  // the wait ends once nothing the page started (fetch, XHR, timer, DOM change) is pending.
  const growth = async (before, full) => {
    const patient = full || listening();
    let calm = 0;
    for (let waited = 0; waited < Math.max(300, pause * 3); waited += 50) {
      await sleep(50);
      if (root.scrollHeight > before) return true;
      if (patient) continue;
      const w = watch();
      const still = w && !w.fetching && w.idle >= 150 && (w.timer === null || w.timer > pause);
      calm = still ? calm + 50 : 0;
      if (calm >= 150) return false;
    }
    return false;
  };
  // On a busy machine a debounce timer fires late: wait for timers due about now.
  const timersDue = async () => {
    for (let waited = 0; waited < 1000 && window.__amberSettle; waited += 50) {
      const next = window.__amberSettle().timer;
      if (next === null || next > pause) return;
      await sleep(50);
    }
  };
  let steps = 0, clicks = 0;
  while (!late() && window.scrollY < height) {
    const atBottom = window.scrollY + window.innerHeight >= root.scrollHeight - 2;
    if (atBottom) {
      if (steps > 0 && await growth(root.scrollHeight, false)) continue;
      const more = clicks < loadMore && findMore();
      if (!more) break;
      more.click();
      clicks++;
      await growth(root.scrollHeight, true);
      continue;
    }
    window.scrollBy(0, step);
    steps++;
    await rest(pause);
    await timersDue();
  }
  while (window.scrollY > 0 && !late()) {
    window.scrollBy(0, -step * 2);
    await rest(Math.max(16, pause / 3));
    await timersDue();
  }
  window.scrollTo(0, 0);
  return {steps, clicks, height: root.scrollHeight, paced};
}
"""


@dataclass(slots=True)
class ScrollReport:
    steps: int = 0
    clicks: int = 0
    height: int = 0
    paced: bool = False  # steps paused for a scroll listener (none listened: frames only)


async def lazy_scroll(
    page: Page, *, pause: float, height: int, load_more: int, budget: float
) -> ScrollReport:
    """Scroll the page down and back within `budget` seconds; what it did, for the notes."""
    args = {
        "pause": int(pause * 1000),
        "height": height,
        "loadMore": load_more,
        "budget": int(budget * 1000),
    }
    with contextlib.suppress(PlaywrightError, TimeoutError):
        answer = await asyncio.wait_for(page.evaluate(SCROLL_JS, args), timeout=budget + 2)
        if isinstance(answer, dict):
            return ScrollReport(
                steps=int(answer.get("steps", 0)),
                clicks=int(answer.get("clicks", 0)),
                height=int(answer.get("height", 0)),
                paced=bool(answer.get("paced", False)),
            )
    return ScrollReport()
