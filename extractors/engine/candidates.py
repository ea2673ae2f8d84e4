"""Every responsive image the page declares, not only the one this viewport chose.

The browser fetches one candidate of a `srcset`, a `<picture>` and a CSS
`image-set()`: the one for a 1280x800 screen at DPR 1. Replay on a phone or a
HiDPI screen asks for another, which the WARC would not hold. After the page
settled, the declared candidates are listed in the page and the missing ones
fetched through the guard (`refetch`), within the capture's extra byte budget.
"""

from __future__ import annotations

import asyncio
import contextlib

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from extractors.engine.recorder import NetworkRecorder
from extractors.engine.refetch import ExtraBudget, refetch

MAX_CANDIDATES = 200
PARALLEL = 4

CANDIDATES_JS = """
() => {
  const urls = new Set();
  const add = (u, base) => {
    if (!u || u.startsWith('data:') || u.startsWith('blob:')) return;
    try {
      const abs = new URL(u, base || document.baseURI);
      if (abs.protocol === 'http:' || abs.protocol === 'https:') {
        urls.add(abs.href.split('#')[0]);
      }
    } catch (e) {}
  };
  const srcset = (value, base) => (value || '').split(/,\\s+|,(?=[^\\s])(?![^(]*\\))/)
    .map((part) => part.trim().split(/\\s+/)[0]).forEach((u) => add(u, base));
  const sets = 'img[srcset], source[srcset], img[data-srcset], source[data-srcset]';
  for (const el of document.querySelectorAll(sets)) {
    srcset(el.getAttribute('srcset'));
    srcset(el.getAttribute('data-srcset'));
  }
  for (const el of document.querySelectorAll('picture img[src], picture source[src]')) {
    add(el.getAttribute('src'));
  }
  const imageSet = (text, base) => {
    for (const set of text.matchAll(/image-set\\(([^;]*)\\)/gi)) {
      for (const m of set[1].matchAll(/url\\(\\s*(['"]?)([^'")]+)\\1\\s*\\)|(['"])([^'"]+)\\3/g)) {
        add(m[2] || m[4], base);
      }
    }
  };
  const rules = (list, base) => {
    for (const rule of list) {
      if (rule.cssRules) { try { rules(rule.cssRules, base); } catch (e) {} }
      const imported = rule.styleSheet;
      if (imported) { try { rules(imported.cssRules, imported.href || base); } catch (e) {} }
      if (rule.cssText && /image-set\\(/i.test(rule.cssText)) imageSet(rule.cssText, base);
    }
  };
  for (const sheet of document.styleSheets) {
    try { rules(sheet.cssRules, sheet.href || document.baseURI); } catch (e) {}
  }
  for (const el of document.querySelectorAll('[style*="image-set"]')) {
    imageSet(el.getAttribute('style'));
  }
  return [...urls];
}
"""


async def declared_candidates(page: Page) -> list[str]:
    with contextlib.suppress(PlaywrightError, TimeoutError):
        answer = await asyncio.wait_for(page.evaluate(CANDIDATES_JS), timeout=5)
        if isinstance(answer, list):
            return [str(url) for url in answer][:MAX_CANDIDATES]
    return []


async def fetch_candidates(
    page: Page, context: BrowserContext, recorder: NetworkRecorder, budget: ExtraBudget
) -> int:
    """Fetch the declared candidates the page did not load; how many were added."""
    have = {e.url for e in recorder.exchanges if e.response is not None or not e.finished}
    missing = [url for url in await declared_candidates(page) if url not in have]
    if not missing:
        return 0
    headers = [("Accept", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8")]
    gate = asyncio.Semaphore(PARALLEL)

    async def one(url: str) -> bool:
        async with gate:
            if budget.remaining <= 0:
                return False
            exchange = await refetch(context, recorder, url, headers=headers, budget=budget)
            if exchange is None:
                return False
            recorder.add_exchange(exchange)
            return True

    return sum(await asyncio.gather(*(one(url) for url in missing)))
