"""URL validation, normalisation (for dedup) and the fetch allow-list (SSRF guard)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from crawler.errors import FetchRefused, InvalidInput

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
TRACKING_PARAMS = {
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "_hsenc",
    "_hsmi",
    "yclid",
    "ref_src",
}
MAX_URL_LENGTH = 8192


def validate_url(raw: str) -> str:
    """Return the URL stripped, or raise InvalidInput saying what is wrong with it."""
    url = (raw or "").strip()
    if not url:
        raise InvalidInput("URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch in url for ch in "\r\n\t\x00 "):
        raise InvalidInput(f"URL contains whitespace or control characters: {url[:200]!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"malformed URL {url[:200]!r}: {exc}") from exc
    if parts.scheme.lower() not in DEFAULT_PORTS:
        raise InvalidInput(f"only http and https URLs can be archived, not {url[:200]!r}")
    host = parts.hostname
    if not host:
        raise InvalidInput(f"URL has no host: {url[:200]!r}")
    if port == 0:
        raise InvalidInput(f"URL has an invalid port: {url[:200]!r}")
    try:
        host.encode("idna")
    except UnicodeError as exc:
        raise InvalidInput(f"URL has an invalid host name: {url[:200]!r}") from exc
    return url


def normalize_url(url: str) -> str:
    """The dedup key: lower-case scheme/host, no default port, no fragment,
    tracking parameters dropped and the rest sorted."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    if parts.username:
        userinfo = parts.username + (f":{parts.password}" if parts.password else "")
        netloc = f"{userinfo}@{netloc}"
    path = quote(unquote(parts.path), safe="/:@!$&'()*+,;=-._~%") or "/"
    query_pairs = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in TRACKING_PARAMS
    ]
    query = urlencode(sorted(query_pairs), doseq=True)
    return urlunsplit((scheme, netloc, path, query, ""))


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or str(address) == "169.254.169.254"
    )


def address_allowed(address: IPAddress, allowed: Iterable[Network]) -> bool:
    return is_public(address) or any(address in network for network in allowed)


@lru_cache(maxsize=4096)
def _resolve(host: str) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchRefused(f"cannot resolve host {host!r}: {exc}") from exc
    return tuple(sorted({str(info[4][0]) for info in infos}))


def check_fetch_allowed(url: str, allowed: Iterable[Network]) -> None:
    """Raise FetchRefused unless every address the URL's host resolves to may be fetched."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise FetchRefused(f"malformed URL {url[:200]!r}") from exc
    if parts.scheme.lower() not in DEFAULT_PORTS:
        raise FetchRefused(f"scheme {parts.scheme!r} is not allowed")
    if not host:
        raise FetchRefused("URL has no host")
    networks = tuple(allowed)
    try:
        addresses: tuple[str, ...] = (str(ipaddress.ip_address(host)),)
    except ValueError:
        addresses = _resolve(host.lower())
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if not address_allowed(address, networks):
            raise FetchRefused(
                f"{host} resolves to {address}, a private/loopback/link-local address "
                "(allow it with AMBER_ALLOWED_NETWORKS)"
            )
