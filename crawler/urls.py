"""URL validation, normalisation (for dedup) and the fetch allow-list (SSRF guard)."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from crawler.errors import FetchRefused, InvalidInput

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
TRACKING_PARAMS = {
    "fbclid",
    "gclid",
    "gclsrc",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "_hsenc",
    "_hsmi",
    "_ga",
    "_gl",
    "yclid",
    "ref_src",
    "ttclid",
    "twclid",
    "li_fat_id",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "srsltid",
}
TRACKING_PREFIXES = ("utm_", "hsa_", "pk_", "mtm_")
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
    if not _idna_ok(host):
        raise InvalidInput(f"URL has an invalid host name: {url[:200]!r}")
    return url


@lru_cache(maxsize=65536)
def _idna_ok(host: str) -> bool:
    """Cached: bulk imports repeat the same hosts thousands of times."""
    try:
        host.encode("idna")
    except UnicodeError:
        return False
    return True


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
PATH_SAFE = "/:@!$&'()*+,;=-._~%"


def _escapes(text: str, safe: str) -> str:
    """One spelling per character: unreserved escapes decoded, others upper-case hex,
    a stray "%" escaped, and anything else outside `safe` percent-encoded (UTF-8).
    Reserved escapes such as %2F stay escaped: decoding them would change the URL."""
    if "%" in text:
        text = _LONE_PERCENT.sub("%25", text)
        text = _ESCAPE.sub(
            lambda m: (
                chr(int(m.group(1), 16))
                if chr(int(m.group(1), 16)) in _UNRESERVED
                else "%" + m.group(1).upper()
            ),
            text,
        )
    return quote(text, safe=safe)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4: /a/./b/../c -> /a/c."""
    if "/." not in path:
        return path
    segments = path.split("/")
    out: list[str] = []
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if segment in (".", ".."):
            if segment == ".." and len(out) > 1:
                out.pop()
            if index == last:
                out.append("")
            continue
        out.append(segment)
    return "/".join(out) or "/"


@lru_cache(maxsize=65536)
def _host_key(host: str) -> str:
    host = host.lower().rstrip(".")
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    return f"[{host}]" if ":" in host else host


def host_key(host: str) -> str:
    """A host as `normalize_url` writes it (lower case, IDNA), for host filters."""
    return _host_key(host)


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def normalize_url(url: str) -> str:
    """The dedup key: lower-case scheme/host (IDNA), no default port, dot segments
    resolved, one spelling per percent-escape, tracking parameters dropped and the
    rest sorted, no fragment (except ``#!`` routes, which name a page)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = _host_key(parts.hostname or "")
    port = parts.port
    netloc = host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    if parts.username:
        userinfo = parts.username + (f":{parts.password}" if parts.password else "")
        netloc = f"{userinfo}@{netloc}"
    path = _remove_dot_segments(_escapes(parts.path, PATH_SAFE)) or "/"
    query = ""
    if parts.query:
        pairs = [
            (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
        ]
        query = urlencode(sorted(pairs), doseq=True)
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    return urlunsplit((scheme, netloc, path, query, fragment))


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
