"""Consent banners, dismissed by DuckDuckGo's autoconsent rules, preferring "reject".

The vendored content script (`vendor/autoconsent`, MPL-2.0, from npm) is the
library's own Playwright build: it talks to its "background" through a page
binding, ``autoconsentSendMessage``, and listens on
``autoconsentReceiveMessage``. We play the background: answer ``init`` with
the config and the compact rules filtered for the frame (as the library's
Playwright runner does), run ``eval`` requests in the frame, and wait until
the frame reports that nothing was found or that the opt-out finished.

Detection runs once, after ``load`` (``detectRetries: 0``), so a page without a
banner costs one pass over the generic rules; a rule that fired is named in
the result, e.g. ``cookieyes: opt-out``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Page

VENDOR = Path(__file__).parent / "vendor" / "autoconsent"
POPUP_WAIT = 4.0
MAX_FRAMES = 20  # consent dialogs live in the page or a few frames, not in every ad slot
FINAL = {"nothingDetected", "optOutSucceeded", "optOutFailed", "done"}
CONFIG = {
    "enabled": True,
    "autoAction": "optOut",
    "disabledCmps": [],
    "enablePrehide": False,
    "enableCosmeticRules": True,
    "enableGeneratedRules": True,
    "detectRetries": 0,
    # Heuristics read the whole page's innerText (a full layout) to report patterns we
    # would not act on; their popup rule only runs on a retry, and we do not retry.
    "enableHeuristicDetection": False,
    "heuristicMode": "off",
    "logs": {"lifecycle": False, "rulesteps": False, "evals": False, "errors": False},
}


# Loading autoconsent costs a renderer ~0.2-0.4 s of CPU (its bundle, its rules, one
# detection pass). A page whose rendered text, frames and shadow roots show no trace of a
# consent dialog cannot have one open, so it is spared that: one cheap look first.
MAYBE_CONSENT_JS = r"""
() => {
  const words = new RegExp('cookie|consent|gdpr|rgpd|dsgvo|einwillig|consentement|consenso|'
    + 'toestemming|samtycke|zgod|souhlas|privacy (settings|preferences|choices)', 'i');
  const vendors = new RegExp('consent|cookie|privacy|gdpr|cmp|sourcepoint|onetrust|trustarc|'
    + 'didomi|usercentrics|quantcast', 'i');
  if (!document.body) return false;
  if (words.test(document.body.innerText || '')) return true;
  for (const frame of document.querySelectorAll('iframe[src]')) {
    if (vendors.test(frame.src)) return true;
  }
  for (const el of document.querySelectorAll('*')) if (el.shadowRoot) return true;
  return false;
}
"""


@cache
def content_script() -> str:
    return (VENDOR / "autoconsent.playwright.js").read_text("utf-8")


@cache
def version() -> str:
    return (VENDOR / "VERSION").read_text("utf-8").strip()


@cache
def _compact_rules() -> dict[str, Any]:
    rules: dict[str, Any] = json.loads((VENDOR / "compact-rules.json").read_text("utf-8"))
    return rules


def _runs_here(rule: list[Any], *, main_frame: bool, url: str) -> bool:
    """The library's `shouldRunRuleInContext`: frame kind, then the rule's URL pattern."""
    context = rule[4] if len(rule) > 4 else 0
    if main_frame and context == 1:
        return False
    if not main_frame and context in (20, 22, 10, 12):
        return False
    pattern = rule[3] if len(rule) > 3 else ""
    if pattern:
        try:
            return re.search(pattern, url) is not None
        except re.error:
            return False
    return True


def rules_for(url: str, *, main_frame: bool) -> dict[str, Any]:
    """The library's `filterCompactRules`: generic rules plus the ones for this URL."""
    bundle = _compact_rules()
    index, strings, rules = bundle["index"], bundle["s"], bundle["r"]
    if not main_frame:
        lo, hi = index["frameRuleRange"]
        return {
            "v": bundle["v"],
            "s": strings[: index["frameStringEnd"]],
            "r": [r for r in rules[lo:hi] if _runs_here(r, main_frame=False, url=url)],
        }
    glo, ghi = index["genericRuleRange"]
    slo, shi = index["specificRuleRange"]
    specific = [r for r in rules[slo:shi] if _runs_here(r, main_frame=True, url=url)]
    if specific:
        return {"v": bundle["v"], "s": strings, "r": rules[glo:ghi] + specific}
    return {"v": bundle["v"], "s": strings[: index["genericStringEnd"]], "r": rules[glo:ghi]}


class _Background:
    """The "background script" side of autoconsent for one page."""

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.lifecycle = "loading"
        self.fired: str | None = None
        self.result: bool | None = None

    async def on_message(self, source: dict[str, Any], message: object) -> None:
        if not isinstance(message, dict):
            return
        frame: Frame = source["frame"]
        kind = message.get("type")
        with contextlib.suppress(PlaywrightError):
            if kind == "init":
                main = frame.parent_frame is None
                rules = rules_for(frame.url, main_frame=main)
                payload = json.dumps(
                    {"type": "initResp", "config": CONFIG, "rules": {"compact": rules}}
                )
                await frame.evaluate(f"autoconsentReceiveMessage({payload})")
            elif kind == "eval":
                result = await frame.evaluate(str(message.get("code", "")))
                reply = {"id": message.get("id"), "type": "evalResp", "result": result}
                await frame.evaluate(f"autoconsentReceiveMessage({json.dumps(reply)})")
        if kind == "popupFound" and self.fired is None:
            self.fired = str(message.get("cmp", ""))
        elif kind == "optOutResult":
            self.fired = str(message.get("cmp", "")) or self.fired
            self.result = bool(message.get("result"))
        elif kind == "autoconsentDone":
            self.fired = str(message.get("cmp", "")) or self.fired
            self.done.set()
        elif kind == "report" and source["frame"].parent_frame is None:
            state = message.get("state")
            if isinstance(state, dict):
                self.lifecycle = str(state.get("lifecycle", self.lifecycle))
                if self.lifecycle in FINAL and self.lifecycle != "optOutSucceeded":
                    self.done.set()


class ConsentBehaviour:
    name = "consent"
    hosts = ("*",)

    async def run(self, page: Page, url: str) -> str | None:
        if not await page.evaluate(MAYBE_CONSENT_JS):
            return None
        background = _Background()
        await page.expose_binding("autoconsentSendMessage", background.on_message)
        script = content_script()
        for frame in page.frames[:MAX_FRAMES]:
            with contextlib.suppress(PlaywrightError):
                await frame.evaluate(script)
        with contextlib.suppress(TimeoutError):
            # A CMP whose popup never shows reports nothing more: stop waiting for it.
            await asyncio.wait_for(background.done.wait(), timeout=POPUP_WAIT)
        if background.fired is None:
            return None
        # Rules that click may leave a fading overlay: give the page one frame to repaint.
        with contextlib.suppress(PlaywrightError):
            await page.evaluate("() => new Promise((r) => requestAnimationFrame(() => r(null)))")
        outcome = {True: "opt-out", False: "opt-out failed", None: "detected"}[background.result]
        return f"{background.fired}: {outcome}"


BEHAVIOUR = ConsentBehaviour()
