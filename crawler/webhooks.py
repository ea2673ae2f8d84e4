"""POSTing JSON to a webhook under the same allow-list as captures, without DNS rebinding.

A webhook URL is checked twice: when a schedule is stored (http(s) only, and
its host must resolve to allowed addresses), and at every delivery. A delivery
resolves the host once, checks every address it got (private, loopback,
link-local and metadata addresses are refused unless AMBER_ALLOWED_NETWORKS
covers them, as for captures), then connects to that very address: the request
goes to the IP, with the original name in the Host header and as TLS SNI (so
certificates are still verified against the name). A DNS answer that changes
between the check and the connection therefore cannot redirect it. Redirects
are not followed, proxies from the environment are not used, and timeouts are
short: a webhook is told, it is never waited for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from crawler import __version__
from crawler.errors import FetchRefused, InvalidInput
from crawler.pinned import pin
from crawler.urls import Network, validate_url

USER_AGENT = f"Amber/{__version__} (change alert)"
ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Delivery:
    delivered: bool
    status: int | None = None
    error: str | None = None


def check_webhook_url(url: str, networks: Sequence[Network]) -> str:
    """The URL, stripped, if a webhook may be sent there now; InvalidInput saying why not."""
    try:
        url = validate_url(url)
    except InvalidInput as exc:
        raise InvalidInput(f"notify_url: {exc.message}") from exc
    if urlsplit(url).username is not None:
        raise InvalidInput("notify_url must not carry a user name or password")
    try:
        pin(url, networks, what="webhook URL")
    except FetchRefused as exc:
        raise InvalidInput(f"notify_url is refused: {exc.message}") from exc
    return url


def post_json(
    url: str, payload: dict[str, Any], *, networks: Sequence[Network], timeout: float
) -> Delivery:
    """One POST; a 2xx answer is delivered, anything else (or no answer) is an error to retry."""
    try:
        target = pin(url, networks, what="webhook URL")
    except FetchRefused as exc:
        return Delivery(False, error=exc.message)
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    body = json.dumps(payload).encode()
    limits = httpx.Timeout(timeout, connect=min(timeout, 3.0))
    try:
        with httpx.Client(timeout=limits, follow_redirects=False, trust_env=False) as client:
            response = client.post(
                target.pinned_url,
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.host},
            )
    except httpx.HTTPError as exc:
        return Delivery(False, error=f"{type(exc).__name__}: {exc}"[:ERROR_CHARS])
    if response.is_success:
        return Delivery(True, status=response.status_code)
    detail = response.text[:200].strip()
    error = f"HTTP {response.status_code}" + (f": {detail}" if detail else "")
    return Delivery(False, status=response.status_code, error=error[:ERROR_CHARS])
