"""robots.txt for crawls: fetched at most once per host per crawl (per process), then cached.

Only links a crawl *discovers* are checked; the seed URLs a person typed are
archived regardless, like a browser bookmark. Fetching goes through the same
allow-list as captures: every redirect hop is resolved once, checked, and the
connection goes to the address that was checked (`crawler.pinned`), so a DNS
answer that changes in between cannot redirect it. Short timeout, byte cap, no
proxies from the environment. A parsed robots.txt is kept `ttl` seconds.
Unreachable robots.txt (5xx, network error, refused address) means "disallow
all" as RFC 9309 asks; 401/403 too, other 4xx mean "allow all".
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from crawler.errors import FetchRefused
from crawler.pinned import pin
from crawler.urls import Network

USER_AGENT = "AmberBot"
MAX_REDIRECTS = 5


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


DISALLOW_ALL = ("User-agent: *", "Disallow: /")


def _parser(lines: Iterable[str] | None, *, allow_all: bool = False) -> RobotFileParser:
    """A parser for these lines; without lines, one that allows or refuses everything."""
    parser = RobotFileParser()
    if lines is None:
        lines = () if allow_all else DISALLOW_ALL
    parser.parse(list(lines))
    return parser


def fetch_robots(
    origin: str,
    *,
    networks: tuple[Network, ...],
    timeout: float = 5.0,
    max_bytes: int = 512 * 1024,
) -> RobotFileParser:
    """Download and parse ``origin/robots.txt``; never raises for network trouble."""
    url = f"{origin}/robots.txt"
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                target = pin(url, networks, what="robots.txt URL")
                with client.stream(
                    "GET",
                    target.pinned_url,
                    headers={"User-Agent": USER_AGENT, "Host": target.host_header},
                    extensions={"sni_hostname": target.host},
                ) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code in (401, 403) or response.status_code >= 500:
                        return _parser(None, allow_all=False)
                    if response.status_code >= 400:
                        return _parser(None, allow_all=True)
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body.extend(chunk)
                        if len(body) >= max_bytes:
                            break
                    text = bytes(body[:max_bytes]).decode("utf-8", errors="replace")
                    return _parser(text.splitlines())
    except (httpx.HTTPError, FetchRefused):
        return _parser(None, allow_all=False)
    return _parser(None, allow_all=False)  # too many redirects


class RobotsCache:
    """Parsed robots.txt per (crawl, origin) for `ttl` seconds; concurrent askers for one
    key share one fetch."""

    def __init__(
        self, *, timeout: float = 5.0, max_entries: int = 2048, ttl: float = 3600.0
    ) -> None:
        self.timeout = timeout
        self.max_entries = max_entries
        self.ttl = ttl
        self._lock = threading.Lock()
        self._parsers: OrderedDict[tuple[str, str], tuple[float, RobotFileParser]] = OrderedDict()
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}
        self.fetches = 0

    def allowed(self, url: str, *, crawl_id: str, networks: tuple[Network, ...]) -> bool:
        parser = self._get((crawl_id, origin_of(url)), networks)
        return parser.can_fetch(USER_AGENT, url)

    def _get(self, key: tuple[str, str], networks: tuple[Network, ...]) -> RobotFileParser:
        with self._lock:
            fresh = self._fresh(key)
            if fresh is not None:
                self._parsers.move_to_end(key)
                return fresh
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                fresh = self._fresh(key)
                if fresh is not None:
                    return fresh
            parser = fetch_robots(key[1], networks=networks, timeout=self.timeout)
            with self._lock:
                self.fetches += 1
                self._parsers[key] = (time.monotonic(), parser)
                while len(self._parsers) > self.max_entries:
                    self._parsers.popitem(last=False)
                self._key_locks.pop(key, None)
            return parser

    def _fresh(self, key: tuple[str, str]) -> RobotFileParser | None:
        """The cached parser unless it is older than `ttl` (call with the lock held)."""
        hit = self._parsers.get(key)
        if hit is None or time.monotonic() - hit[0] >= self.ttl:
            return None
        return hit[1]


ROBOTS = RobotsCache()
