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

import ipaddress
import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from crawler import __version__
from crawler.errors import FetchRefused, InvalidInput
from crawler.urls import DEFAULT_PORTS, IPAddress, Network, address_allowed, validate_url

USER_AGENT = f"Amber/{__version__} (change alert)"
ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Target:
    """Where a webhook request really goes: the checked address, and the name it was for."""

    url: str
    host: str
    port: int
    address: IPAddress

    @property
    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return urlunsplit(
            (parts.scheme, f"{literal}:{self.port}", parts.path or "/", parts.query, "")
        )

    @property
    def host_header(self) -> str:
        default = DEFAULT_PORTS[urlsplit(self.url).scheme.lower()]
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


@dataclass(frozen=True, slots=True)
class Delivery:
    delivered: bool
    status: int | None = None
    error: str | None = None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address of `host` (a literal is its own answer; nothing is cached)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchRefused(f"cannot resolve host {host!r}: {exc}") from exc
    return list(dict.fromkeys(ipaddress.ip_address(str(i[4][0]).split("%", 1)[0]) for i in infos))


def pin(url: str, networks: Sequence[Network]) -> Target:
    """Resolve once and check every address; FetchRefused when any of them is not allowed."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise FetchRefused(f"only http and https webhooks are allowed, not {scheme!r}")
    host = (parts.hostname or "").lower()
    if not host:
        raise FetchRefused("the webhook URL has no host")
    port = parts.port or DEFAULT_PORTS[scheme]
    addresses = resolve(host, port)
    if not addresses:
        raise FetchRefused(f"host {host!r} has no address")
    for address in addresses:
        if not address_allowed(address, networks):
            raise FetchRefused(
                f"{host} resolves to {address}, a private/loopback/link-local address "
                "(allow it with AMBER_ALLOWED_NETWORKS)"
            )
    return Target(url=url, host=host, port=port, address=addresses[0])


def check_webhook_url(url: str, networks: Sequence[Network]) -> str:
    """The URL, stripped, if a webhook may be sent there now; InvalidInput saying why not."""
    try:
        url = validate_url(url)
    except InvalidInput as exc:
        raise InvalidInput(f"notify_url: {exc.message}") from exc
    if urlsplit(url).username is not None:
        raise InvalidInput("notify_url must not carry a user name or password")
    try:
        pin(url, networks)
    except FetchRefused as exc:
        raise InvalidInput(f"notify_url is refused: {exc.message}") from exc
    return url


def post_json(
    url: str, payload: dict[str, Any], *, networks: Sequence[Network], timeout: float
) -> Delivery:
    """One POST; a 2xx answer is delivered, anything else (or no answer) is an error to retry."""
    try:
        target = pin(url, networks)
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
