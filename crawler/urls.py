"""URL validation, normalisation (for dedup) and the fetch allow-list (SSRF guard)."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
import time
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


def _utf8_ok(text: str) -> bool:
    """False for text with lone surrogates, which no database or URL encoding can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_url(raw: str) -> str:
    """Return the URL stripped, or raise InvalidInput saying what is wrong with it."""
    url = (raw or "").strip()
    if not url:
        raise InvalidInput("URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"URL is longer than {MAX_URL_LENGTH} characters")
    if not url.isascii() and not _utf8_ok(url):
        raise InvalidInput(f"URL is not valid Unicode text (a lone surrogate?): {url[:200]!r}")
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
    if parts.username is not None or parts.password is not None:
        # Credentials would be stored, listed and replayed with the URL: refuse them
        # rather than archive a password or quietly capture a different page.
        raise InvalidInput(
            "URL carries a user name or password (user:pass@host); Amber does not store "
            "credentials, remove them from the URL: "
            f"{parts.scheme}://{parts.hostname}{parts.path}"[:300]
        )
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
    if parts.username:  # validate_url refuses these; keep such keys apart all the same
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


# Special-purpose ranges (IANA's IPv4 and IPv6 special-purpose address registries) that
# are not globally routable, listed even where `ipaddress.is_global` already says so:
# its answer differs between Python versions, and these are the ones that matter.
NOT_GLOBAL: tuple[Network, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (CGN); 100.100.100.200 is a cloud metadata host
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local; 169.254.169.254 is the usual metadata host
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments; 192.0.0.192 is a metadata host too
        "192.0.2.0/24",  # documentation
        "192.31.196.0/24",  # AS112
        "192.52.193.0/24",  # AMT
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",
        "192.175.48.0/24",  # AS112 direct delegation
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the limited broadcast address
        "::/128",
        "::1/128",
        "::/96",  # IPv4-compatible (deprecated)
        "::ffff:0:0/96",  # IPv4-mapped: judged by the embedded address, never as is
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments: Teredo (2001::/32), benchmarking, ORCHID
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and leads to (mapped, 6to4, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in SIX_TO_FOUR:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """Globally routable: not in any special-purpose range that is not, judged through
    the IPv4 address a 6to4, NAT64 or IPv4-mapped address would really reach."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return is_public(inner)
    if any(address in network for network in NOT_GLOBAL if network.version == address.version):
        return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def address_allowed(address: IPAddress, allowed: Iterable[Network]) -> bool:
    return is_public(address) or any(address in network for network in allowed)


def refusal(host: str, address: IPAddress) -> str:
    """The one wording for a refused address, so every guard explains itself alike."""
    return (
        f"{host} resolves to {address}, a private/loopback/link-local address or another "
        "range that is not globally routable (allow it with AMBER_ALLOWED_NETWORKS)"
    )


class DnsCache:
    """Answers of getaddrinfo for the allow-list checks, kept `ttl` seconds.

    Bulk work asks about the same hosts thousands of times, so answers are kept a
    while; they expire so a host that moves is judged by where it is now. The
    guards that connect (the egress proxy, robots.txt, webhooks) resolve afresh and
    connect to what they checked; this cache only serves early refusals.
    """

    def __init__(self, *, ttl: float = 60.0, max_entries: int = 4096) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._answers: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def resolve(self, host: str) -> tuple[str, ...]:
        now = time.monotonic()
        with self._lock:
            hit = self._answers.get(host)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchRefused(f"cannot resolve host {host!r}: {exc}") from exc
        answer = tuple(sorted({str(info[4][0]) for info in infos}))
        with self._lock:
            if len(self._answers) >= self.max_entries:
                self._answers.clear()
            self._answers[host] = (now, answer)
        return answer


DNS = DnsCache()


def check_fetch_allowed(url: str, allowed: Iterable[Network], *, dns: DnsCache = DNS) -> None:
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
        addresses = dns.resolve(host.lower())
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if not address_allowed(address, networks):
            raise FetchRefused(refusal(host, address))
