"""A persona's login on one capture: put its cookies and local storage in, keep them out of outputs.

The state goes into the capture's own fresh context (never a shared one), so
it lasts as long as that capture. Whatever carries the login on the wire
(``Cookie``, ``Authorization``, a ``Set-Cookie`` that refreshes it) is dropped
from what the capture stores: an archive is shared, a login is not.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from playwright.async_api import BrowserContext

from extractors.engine.recorder import Exchange, HeaderList

SECRET_HEADERS = frozenset(
    {"cookie", "authorization", "proxy-authorization", "set-cookie", "set-cookie2"}
)

# Local storage is per origin and only writable from a page of that origin: set it as the
# first script of each document, before the page's own scripts read it.
LOCAL_STORAGE_JS = """
(origins) => {
  const mine = origins.find((o) => o.origin === location.origin);
  if (!mine) return;
  try { for (const item of mine.localStorage) localStorage.setItem(item.name, item.value); }
  catch (e) { /* storage disabled for this document */ }
}
"""


async def apply_persona(context: BrowserContext, state: dict[str, Any]) -> None:
    """Log the capture's context in: its cookies now, its local storage as each page starts."""
    cookies = state.get("cookies") or []
    if cookies:
        await context.add_cookies(cookies)
    origins = [o for o in state.get("origins") or [] if o.get("localStorage")]
    if origins:
        await context.add_init_script(f"({LOCAL_STORAGE_JS})({json.dumps(origins)})")


def without_secrets(headers: HeaderList) -> HeaderList:
    return [(name, value) for name, value in headers if name.lower() not in SECRET_HEADERS]


def redacted(exchange: Exchange) -> Exchange:
    """A copy of `exchange` whose request and response carry no credentials."""
    response = exchange.response
    if response is not None:
        response = dataclasses.replace(response, headers=without_secrets(response.headers))
    return dataclasses.replace(
        exchange, request_headers=without_secrets(exchange.request_headers), response=response
    )
