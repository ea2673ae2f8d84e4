"""Page behaviours: small steps that run on the loaded page before anything is extracted.

A behaviour makes the page look like what a person saw: it dismisses a consent
banner, opens collapsed sections, and so on. Each one is a module in this
package (not starting with ``_``) that defines ``BEHAVIOUR``, an object with a
`name`, the host patterns it applies to (`fnmatch` style, ``"*"`` for every
site) and one coroutine, ``run(page, url)``, that returns what it did (or
``None`` when it did nothing). Adding a behaviour means adding a file: the
package is scanned once, on first use.

The engine calls `run_behaviours` once per capture, after ``load`` and before
the page settles, so the WARC records whatever a behaviour made the page fetch.
A behaviour that fails or runs out of time is noted and never fails the capture.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import importlib
import logging
import pkgutil
from dataclasses import dataclass
from functools import cache
from typing import ClassVar, Protocol
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

log = logging.getLogger(__name__)


class Behaviour(Protocol):
    """One behaviour: `hosts` are fnmatch patterns matched against the page's host."""

    name: ClassVar[str]
    hosts: ClassVar[tuple[str, ...]]

    async def run(self, page: Page, url: str) -> str | None:
        """Act on the loaded page; return one line saying what was done, or None."""
        ...


@dataclass(slots=True)
class BehaviourRun:
    """What one behaviour did on one page; the `behaviours` output lists these."""

    name: str
    status: str  # "done" | "nothing" | "failed" | "timeout"
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@cache
def discover() -> tuple[Behaviour, ...]:
    """Every ``BEHAVIOUR`` defined by a module of this package, in module-name order."""
    found: list[Behaviour] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        behaviour = getattr(module, "BEHAVIOUR", None)
        if behaviour is not None:
            found.append(behaviour)
    return tuple(found)


def host_matches(url: str, patterns: tuple[str, ...]) -> bool:
    """Whether the URL's host matches one of `patterns` ("*.example.com" matches the apex too)."""
    host = (urlsplit(url).hostname or "").lower()
    for pattern in patterns:
        pattern = pattern.lower()
        if fnmatch.fnmatchcase(host, pattern):
            return True
        if pattern.startswith("*.") and host == pattern[2:]:
            return True
    return False


def behaviours_for(url: str) -> list[Behaviour]:
    return [b for b in discover() if host_matches(url, b.hosts)]


async def run_behaviours(
    page: Page, url: str, *, enabled: bool = True, budget: float = 5.0
) -> list[BehaviourRun]:
    """Run every behaviour whose host pattern matches `url`, one after another, within `budget`.

    Site-specific behaviours run before the ones for every site, so a site's own
    hook sees the page as it loaded.
    """
    if not enabled:
        return []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    chosen = sorted(behaviours_for(url), key=lambda b: "*" in b.hosts)
    runs: list[BehaviourRun] = []
    for behaviour in chosen:
        left = deadline - loop.time()
        if left <= 0:
            runs.append(BehaviourRun(behaviour.name, "timeout", "no time left"))
            continue
        try:
            detail = await asyncio.wait_for(behaviour.run(page, url), timeout=left)
        except TimeoutError:
            runs.append(BehaviourRun(behaviour.name, "timeout", f"stopped after {budget:.1f}s"))
        except (PlaywrightError, ValueError, KeyError, TypeError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.info("behaviour %s failed on %s: %s", behaviour.name, url, message)
            runs.append(BehaviourRun(behaviour.name, "failed", message[:300]))
        else:
            runs.append(BehaviourRun(behaviour.name, "done" if detail else "nothing", detail or ""))
    with contextlib.suppress(PlaywrightError):
        # A behaviour may leave the page scrolled; the extractors expect the top.
        await page.evaluate("() => window.scrollTo(0, 0)")
    return runs
