"""Resolve a URL's host once, check every address, and connect to that very address.

Used by every fetch Amber makes outside the browser (robots.txt, webhooks): the
request goes to the checked IP, with the original name in the Host header and
as TLS SNI (so certificates are still verified against the name). A DNS answer
that changes between the check and the connection (DNS rebinding) therefore
cannot redirect it. Nothing here caches: each fetch resolves afresh.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from crawler.errors import FetchRefused
from crawler.urls import DEFAULT_PORTS, IPAddress, Network, address_allowed, refusal


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request really goes: the checked address, and the name it was for."""

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


def pin(url: str, networks: Sequence[Network], *, what: str = "URL") -> Target:
    """Resolve once and check every address; FetchRefused when any of them is not allowed."""
    try:
        parts = urlsplit(url)
        port_given = parts.port
    except ValueError as exc:
        raise FetchRefused(f"malformed {what} {url[:200]!r}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise FetchRefused(f"only http and https are allowed for a {what}, not {scheme!r}")
    host = (parts.hostname or "").lower()
    if not host:
        raise FetchRefused(f"the {what} has no host")
    port = port_given or DEFAULT_PORTS[scheme]
    addresses = resolve(host, port)
    if not addresses:
        raise FetchRefused(f"host {host!r} has no address")
    for address in addresses:
        if not address_allowed(address, networks):
            raise FetchRefused(refusal(host, address))
    return Target(url=url, host=host, port=port, address=addresses[0])
