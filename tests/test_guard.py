"""The egress guard's decisions, range by range, and the fetches that rely on them.

No test here lets a packet leave the machine: refused addresses are judged by
the guard's decision alone (`is_public`, `check_fetch_allowed`, `pin`, the
SOCKS proxy's refusal, which happens before any connection), and everything
that really connects talks to a server on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterator

import httpx
import pytest

from crawler.errors import FetchRefused, InvalidInput
from crawler.pinned import pin
from crawler.robots import RobotsCache, fetch_robots
from crawler.urls import (
    DnsCache,
    address_allowed,
    check_fetch_allowed,
    is_public,
    validate_url,
)
from extractors.engine.egress import REPLY_NOT_ALLOWED, EgressGuard
from tests.conftest import ADMIN_TOKEN
from tests.services import AmberServer
from tests.site import SiteHandler, TestSite

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)

# (address, why it is not globally routable): one or more per special-purpose range.
REFUSED = [
    ("0.0.0.0", "this host"),
    ("0.1.2.3", "this network"),
    ("10.1.2.3", "private"),
    ("100.64.0.1", "shared address space"),
    ("100.100.100.200", "shared address space: a cloud metadata endpoint"),
    ("100.127.255.254", "shared address space, top"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback, top"),
    ("169.254.169.254", "link-local metadata endpoint"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private, top"),
    ("192.0.0.192", "IETF protocol assignments: a metadata endpoint"),
    ("192.0.0.8", "IETF protocol assignments"),
    ("192.0.2.10", "TEST-NET-1"),
    ("192.31.196.1", "AS112"),
    ("192.52.193.1", "AMT"),
    ("192.88.99.1", "6to4 relay anycast"),
    ("192.168.1.1", "private"),
    ("192.175.48.1", "AS112 direct delegation"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.255", "benchmarking, top"),
    ("198.51.100.1", "TEST-NET-2"),
    ("203.0.113.1", "TEST-NET-3"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast (SSDP)"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "limited broadcast"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("::127.0.0.1", "IPv4-compatible (deprecated)"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:100.100.100.200", "IPv4-mapped shared address"),
    ("::ffff:169.254.169.254", "IPv4-mapped metadata"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254"),
    ("64:ff9b::7f00:1", "NAT64 of 127.0.0.1"),
    ("64:ff9b::a00:1", "NAT64 of 10.0.0.1"),
    ("64:ff9b:1::1", "local-use NAT64"),
    ("100::1", "discard-only"),
    ("2001::1", "Teredo"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo with an embedded client"),
    ("2001:2::1", "benchmarking"),
    ("2001:10::1", "ORCHID"),
    ("2001:db8::1", "documentation"),
    ("2002:7f00:1::", "6to4 of 127.0.0.1"),
    ("2002:a9fe:a9fe::1", "6to4 of 169.254.169.254"),
    ("2002:c0a8:101::1", "6to4 of 192.168.1.1"),
    ("2002:6464:64c8::", "6to4 of 100.100.100.200"),
    ("3fff::1", "documentation (2024)"),
    ("5f00::1", "SRv6 SIDs"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("fe80::1", "link-local"),
    ("fec0::1", "site-local (deprecated)"),
    ("ff02::1", "multicast"),
]
PUBLIC = [
    "1.1.1.1",
    "8.8.8.8",
    "93.184.215.14",
    "100.63.255.255",  # just below shared address space
    "100.128.0.0",  # just above it
    "192.0.1.1",  # just above 192.0.0.0/24
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize(("text", "why"), REFUSED, ids=[a for a, _ in REFUSED])
def test_every_special_purpose_range_is_refused(text: str, why: str) -> None:
    # Given an address from a range that is not globally routable
    address = ipaddress.ip_address(text)
    literal = f"[{text}]" if address.version == 6 else text
    # Then the guard refuses it, as an address and as a URL (no DNS, no packet)
    assert not is_public(address), why
    assert not address_allowed(address, ())
    with pytest.raises(FetchRefused, match="not globally routable"):
        check_fetch_allowed(f"http://{literal}/", ())
    with pytest.raises(FetchRefused):
        pin(f"https://{literal}:8443/x", ())


def test_public_addresses_pass_and_the_allow_list_opens_exactly_what_it_names() -> None:
    # Given public addresses, including 6to4/NAT64/mapped forms of public IPv4
    for text in PUBLIC:
        assert is_public(ipaddress.ip_address(text)), text
    # And an allow-list naming one private network
    allowed = (ipaddress.ip_network("100.64.0.0/10"),)
    # Then that network passes and its neighbours do not
    assert address_allowed(ipaddress.ip_address("100.100.100.200"), allowed)
    assert not address_allowed(ipaddress.ip_address("192.0.0.192"), allowed)


@pytest.fixture(scope="module")
def guard() -> Iterator[EgressGuard]:
    guard = EgressGuard(LOOPBACK).start()
    yield guard
    guard.stop()


def socks_reply(guard: EgressGuard, host: str, port: int = 80) -> int:
    """CONNECT through the proxy and return its reply code (refusals happen before connect)."""
    with socket.create_connection(("127.0.0.1", guard.port), timeout=10) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(2) == b"\x05\x00"
        address = ipaddress.ip_address(host)
        atyp = b"\x01" if address.version == 4 else b"\x04"
        sock.sendall(b"\x05\x01\x00" + atyp + address.packed + struct.pack("!H", port))
        return sock.recv(10)[1]


@pytest.mark.parametrize(
    "host", ["100.100.100.200", "192.0.0.192", "2002:7f00:1::", "64:ff9b::a9fe:a9fe", "2001::1"]
)
def test_the_capture_proxy_refuses_before_connecting(guard: EgressGuard, host: str) -> None:
    # When the browser's proxy is asked for a non-global address
    code = socks_reply(guard, host)
    # Then it refuses by policy, and remembers why for the capture's error message
    assert code == REPLY_NOT_ALLOWED
    literal = f"[{host}]" if ":" in host else host
    verdict = guard.verdict_for(f"http://{literal}/")
    assert verdict is not None and verdict.refused and "not globally routable" in verdict.reason


def test_dns_answers_expire() -> None:
    # Given a cache with a TTL of zero and one with a long TTL
    fresh, kept = DnsCache(ttl=0.0), DnsCache(ttl=3600.0)
    calls: list[str] = []
    real = socket.getaddrinfo

    def counting(host: str, *args: object, **kw: object) -> object:
        calls.append(host)
        return real(host, *args, **kw)  # type: ignore[arg-type]

    lookups: dict[str, int] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", counting)
        # When each is asked twice
        for name, cache in (("fresh", fresh), ("kept", kept)):
            calls.clear()
            assert "127.0.0.1" in cache.resolve("localhost")
            cache.resolve("localhost")
            lookups[name] = len(calls)
    # Then the expired answer was looked up again, the kept one was not
    assert lookups == {"fresh": 2, "kept": 1}


def test_robots_connects_to_the_address_it_checked() -> None:
    # Given a site (on loopback) that records the Host header robots.txt was asked with
    seen: list[str] = []

    def robots(handler: SiteHandler) -> None:
        seen.append(handler.headers.get("Host", ""))
        handler.send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")

    site = TestSite().start()
    site.extra_routes["/robots.txt"] = robots
    try:
        # When robots.txt is fetched by name
        parser = fetch_robots(f"http://localhost:{site.port}", networks=LOOPBACK)
        # Then the request went to the checked address, still naming the host
        assert seen == [f"localhost:{site.port}"]
        assert not parser.can_fetch("AmberBot", f"http://localhost:{site.port}/private/x")
        assert parser.can_fetch("AmberBot", f"http://localhost:{site.port}/public")
        # And without the allow-list the name is refused before any connection
        refused = fetch_robots(f"http://localhost:{site.port}", networks=())
        assert seen == [f"localhost:{site.port}"]
        assert not refused.can_fetch("AmberBot", f"http://localhost:{site.port}/public")
        # And a parsed robots.txt is fetched again once its TTL is over
        cache = RobotsCache(ttl=0.0)
        for _ in range(2):
            cache.allowed(site.url("/x"), crawl_id="c", networks=LOOPBACK)
        assert cache.fetches == 2 and len(seen) == 3
    finally:
        site.stop()


def test_credentials_in_urls_are_refused_everywhere(sqlite_server: AmberServer) -> None:
    # Given URLs carrying user:pass@
    secret = "s3cr3t-pw"
    url = f"http://alice:{secret}@127.0.0.1:9/page"
    # Then validation refuses them
    with pytest.raises(InvalidInput, match="user name or password"):
        validate_url(url)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=sqlite_server.url, headers=headers, timeout=30) as client:
        # When they are sent to the add, snapshot, crawl and schedule APIs
        answers = [
            client.post("/api/v1/cli/add", json={"urls": [url]}),
            client.post("/api/v1/core/snapshots", json={"url": url}),
            client.post("/api/v1/crawls/crawls", json={"urls": url}),
            client.post("/api/v1/cli/schedule", json={"urls": [url], "every": "1d"}),
        ]
        # Then each is a 4xx in the archive dialect's shape naming the problem,
        # without echoing the password back
        for answer in answers:
            assert 400 <= answer.status_code < 500, answer.text
            assert "user name or password" in answer.text, answer.text
            assert secret not in answer.text
        # And nothing was stored under that URL
        listed = client.get("/api/v1/core/snapshots", params={"url": url}).json()
        assert listed["count"] == 0
        listed = client.get("/api/v1/core/snapshots", params={"search": "alice"}).json()
        assert listed["count"] == 0
