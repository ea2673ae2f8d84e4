"""The egress guard over real sockets: a SOCKS5 client speaking to it byte by byte."""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterator

import pytest

from extractors.engine.egress import (
    REPLY_COMMAND_NOT_SUPPORTED,
    REPLY_CONNECTION_REFUSED,
    REPLY_NOT_ALLOWED,
    REPLY_OK,
    EgressGuard,
)
from tests.services import free_port
from tests.site import TestSite


@pytest.fixture(scope="module")
def guard() -> Iterator[EgressGuard]:
    guard = EgressGuard([ipaddress.ip_network("127.0.0.1/32")]).start()
    yield guard
    guard.stop()


def socks_connect(
    guard: EgressGuard, host: str, port: int, *, command: int = 1
) -> tuple[int, socket.socket]:
    """Greet, ask to CONNECT, return the reply code and the (possibly tunnelled) socket."""
    sock = socket.create_connection(("127.0.0.1", guard.port), timeout=10)
    sock.sendall(b"\x05\x01\x00")
    assert sock.recv(2) == b"\x05\x00"
    try:
        address = b"\x01" + socket.inet_aton(host)
    except OSError:
        address = b"\x03" + bytes([len(host)]) + host.encode()
    sock.sendall(bytes([5, command, 0]) + address + struct.pack("!H", port))
    reply = recv_exactly(sock, 10)
    assert reply[0] == 5
    return reply[1], sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_allowed_address_is_tunnelled_byte_for_byte(guard: EgressGuard, site: TestSite) -> None:
    # Given an address inside the allow-list
    code, sock = socks_connect(guard, "127.0.0.1", site.port)
    # Then the guard connects, and an HTTP exchange passes through untouched
    assert code == REPLY_OK
    with sock:
        sock.sendall(b"GET /final.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.")
    assert b" 200 " in response.split(b"\r\n", 1)[0]
    assert b"Final Destination" in response


def test_private_address_is_refused_with_a_reason(guard: EgressGuard, site: TestSite) -> None:
    # Given a loopback address outside the allow-list
    code, sock = socks_connect(guard, "127.0.0.2", site.port)
    sock.close()
    # Then the guard refuses it (SOCKS "not allowed by ruleset") and remembers why
    assert code == REPLY_NOT_ALLOWED
    verdict = guard.verdict_for(f"http://127.0.0.2:{site.port}/anything")
    assert verdict is not None and verdict.refused
    assert "127.0.0.2" in verdict.reason and "AMBER_ALLOWED_NETWORKS" in verdict.reason


def test_hostnames_are_resolved_and_checked_by_the_guard(site: TestSite) -> None:
    # Given a guard with no exceptions, and a hostname (not an address) that resolves to loopback
    strict = EgressGuard().start()
    try:
        code, sock = socks_connect(strict, "localhost", site.port)
        sock.close()
        # Then the guard resolved it itself and refused the loopback answer
        assert code == REPLY_NOT_ALLOWED
        verdict = strict.verdict_for(f"http://LOCALHOST:{site.port}/")
        assert verdict is not None and verdict.refused
        assert strict.connections == 0
    finally:
        strict.stop()


def test_closed_port_is_a_connection_failure_not_a_refusal(guard: EgressGuard) -> None:
    port = free_port()
    code, sock = socks_connect(guard, "127.0.0.1", port)
    sock.close()
    assert code == REPLY_CONNECTION_REFUSED
    verdict = guard.verdict_for(f"http://127.0.0.1:{port}/")
    assert verdict is not None and not verdict.refused
    assert verdict.net_error == "ERR_CONNECTION_REFUSED"


def test_only_connect_is_supported(guard: EgressGuard, site: TestSite) -> None:
    code, sock = socks_connect(guard, "127.0.0.1", site.port, command=2)  # BIND
    sock.close()
    assert code == REPLY_COMMAND_NOT_SUPPORTED


def test_a_client_that_is_not_socks5_is_turned_away(guard: EgressGuard) -> None:
    with socket.create_connection(("127.0.0.1", guard.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        reply = recv_exactly(sock, 2)
    assert reply in (b"", b"\x05\xff")
