"""The fetch allow-list, enforced where the connection is made: a local SOCKS5 proxy.

Every browser context of a capture is pointed at this proxy (Playwright adds
`<-loopback>` to the bypass list, so loopback targets go through it too). The
proxy resolves the host itself, refuses every address that is not globally
routable (`crawler.urls.is_public`) unless AMBER_ALLOWED_NETWORKS covers it, and connects to
the very address it checked, so a DNS answer that changes between the check
and the connection (DNS rebinding) cannot slip past.

Why a proxy rather than CDP `Fetch` interception: pausing every request costs
two DevTools round trips through Playwright (60-110 ms on a rich page), while
the proxy only costs a handshake per connection, and Chromium reuses those.
SOCKS5 rather than an HTTP proxy: Chromium sends the hostname unresolved and
the request bytes pass through untouched, so the WARC records the request
exactly as the browser would have sent it to the site.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from crawler.urls import DEFAULT_PORTS, Network, address_allowed, refusal

log = logging.getLogger(__name__)

SOCKS_VERSION = 5
NO_AUTH = 0
CMD_CONNECT = 1
ATYP_IPV4, ATYP_DOMAIN, ATYP_IPV6 = 1, 3, 4
REPLY_OK = 0
REPLY_GENERAL_FAILURE = 1
REPLY_NOT_ALLOWED = 2
REPLY_HOST_UNREACHABLE = 4
REPLY_CONNECTION_REFUSED = 5
REPLY_COMMAND_NOT_SUPPORTED = 7
REPLY_ATYP_NOT_SUPPORTED = 8
HANDSHAKE_TIMEOUT = 10.0
CONNECT_TIMEOUT = 15.0
CHUNK = 256 * 1024
VERDICT_TTL = 300.0  # how long a refusal is remembered, for the capture to explain it


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a connection to host:port did not happen: refused by policy, or it failed."""

    refused: bool
    reason: str
    net_error: str  # Chromium's name for what happened, for the capture's error message
    at: float


class EgressGuard:
    """A SOCKS5 proxy on 127.0.0.1 that connects only to allowed addresses."""

    def __init__(self, allowed_networks: Iterable[Network] = ()) -> None:
        self.allowed_networks = tuple(allowed_networks)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="amber-egress", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._verdicts: dict[tuple[str, int], Verdict] = {}
        self.port = 0
        self.connections = 0

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> EgressGuard:
        ready = threading.Event()
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(ready), self._loop).result(timeout=10)
        ready.wait(timeout=10)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    async def _listen(self, ready: threading.Event) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512)
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def _close() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    @property
    def server(self) -> str:
        """The proxy address as Playwright's `proxy={"server": ...}` wants it."""
        return f"socks5://127.0.0.1:{self.port}"

    # -- what happened -------------------------------------------------------------

    def verdict_for(self, url: str) -> Verdict | None:
        """Why the last connection for this URL's host and port did not happen, if it didn't."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
        except ValueError:
            return None
        verdict = self._verdicts.get((host, port))
        if verdict is None or time.monotonic() - verdict.at > VERDICT_TTL:
            return None
        return verdict

    def _remember(self, host: str, port: int, verdict: Verdict) -> None:
        if len(self._verdicts) > 10_000:
            self._verdicts.clear()
        self._verdicts[(host.lower(), port)] = verdict

    # -- one connection ------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            target = await asyncio.wait_for(self._handshake(reader, writer), HANDSHAKE_TIMEOUT)
            if target is None:
                return
            host, port = target
            opened = await self._open(host, port)
            if isinstance(opened, int):
                await self._reply(writer, opened)
                return
            up_reader, upstream = opened
            await self._reply(writer, REPLY_OK)
            self.connections += 1
            await asyncio.gather(_pump(reader, upstream), _pump(up_reader, writer))
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            for stream in (upstream, writer):
                if stream is not None:
                    with contextlib.suppress(Exception):
                        stream.close()

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[str, int] | None:
        version, count = await reader.readexactly(2)
        if version != SOCKS_VERSION:
            return None  # not a SOCKS5 client: hang up
        methods = await reader.readexactly(count)
        if NO_AUTH not in methods:
            writer.write(bytes((SOCKS_VERSION, 0xFF)))
            return None
        writer.write(bytes((SOCKS_VERSION, NO_AUTH)))
        version, command, _, atyp = await reader.readexactly(4)
        if atyp == ATYP_IPV4:
            host = socket.inet_ntop(socket.AF_INET, await reader.readexactly(4))
        elif atyp == ATYP_IPV6:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        elif atyp == ATYP_DOMAIN:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode("idna")
        else:
            await self._reply(writer, REPLY_ATYP_NOT_SUPPORTED)
            return None
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        if command != CMD_CONNECT:
            await self._reply(writer, REPLY_COMMAND_NOT_SUPPORTED)
            return None
        return host, port

    async def _open(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | int:
        """Resolve, check every address, connect to an allowed one; a SOCKS reply code if not."""
        now = time.monotonic()
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = await self._loop.getaddrinfo(
                    host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
                )
            except (socket.gaierror, UnicodeError) as exc:
                reason = f"cannot resolve host {host!r}: {exc}"
                self._remember(host, port, Verdict(False, reason, "ERR_NAME_NOT_RESOLVED", now))
                return REPLY_HOST_UNREACHABLE
            addresses = list(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
        for address in addresses:
            if not address_allowed(address, self.allowed_networks):
                reason = refusal(host, address)
                self._remember(host, port, Verdict(True, reason, "ERR_BLOCKED_BY_CLIENT", now))
                return REPLY_NOT_ALLOWED
        last_error: OSError | None = None
        for address in addresses:
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(str(address), port, limit=CHUNK), CONNECT_TIMEOUT
                )
            except TimeoutError:
                last_error = OSError(errno.ETIMEDOUT, "connection timed out")
            except OSError as exc:
                last_error = exc
        refused = last_error is not None and last_error.errno == errno.ECONNREFUSED
        net_error = "ERR_CONNECTION_REFUSED" if refused else "ERR_CONNECTION_FAILED"
        self._remember(host, port, Verdict(False, f"{host}:{port}: {last_error}", net_error, now))
        return REPLY_CONNECTION_REFUSED if refused else REPLY_HOST_UNREACHABLE

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, code: int) -> None:
        writer.write(bytes((SOCKS_VERSION, code, 0, ATYP_IPV4, 0, 0, 0, 0, 0, 0)))
        await writer.drain()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until EOF, then pass the half-close on."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()
