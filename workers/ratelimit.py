"""Politeness per host across the whole fleet: at most K at once and R a minute.

Dramatiq's rate limiters keep the counts in Redis (the stub backend in
embedded mode), keyed by the URL's host, so every worker process on every
node shares them. The check runs before the claim: a capture that would
exceed a limit is not failed and spends no attempt; its message is sent again
with a delay, and its redelivery deadline moves past that delay so the
reconciler does not send a duplicate meanwhile.

A worker killed with SIGKILL cannot give back its concurrency slot; the slot
expires with the key's TTL (one lease) once the host sees no traffic.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from urllib.parse import urlsplit

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import SkipMessage
from dramatiq.rate_limits import ConcurrentRateLimiter, RateLimiterBackend, WindowRateLimiter
from redis.exceptions import RedisError
from sqlalchemy.engine import Engine

from crawler import fleet as registry
from crawler import snapshot_states as states
from crawler.clock import seconds_from_now
from crawler.db import session_scope
from crawler.models import SnapshotStatus
from workers.metrics import WorkerStats

log = logging.getLogger(__name__)

CAPTURE_ACTOR = "capture_snapshot"


class HostPoliteness(dramatiq.Middleware):
    """Acquire the host's slots before a capture; release them after it."""

    def __init__(
        self,
        *,
        engine: Engine,
        backend: RateLimiterBackend,
        concurrency: int,
        per_minute: int,
        lease: float,
        redeliver_after: float,
        stats: WorkerStats | None = None,
    ) -> None:
        self.engine = engine
        self.backend = backend
        self.concurrency = concurrency
        self.per_minute = per_minute
        self.lease_ms = max(1000, int(lease * 1000))
        self.redeliver_after = redeliver_after
        self.stats = stats
        self._held: dict[str, contextlib.ExitStack] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.concurrency > 0 or self.per_minute > 0

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        if not self.enabled or message.actor_name != CAPTURE_ACTOR or not message.args:
            return
        snapshot_id = str(message.args[0])
        with session_scope(self.engine) as session:
            found = registry.snapshot_url_and_status(session, snapshot_id)
        if found is None or found[1] != SnapshotStatus.queued:
            return  # nothing to capture: the pipeline's claim will be a no-op
        host = (urlsplit(found[0]).hostname or "").lower()
        stack = contextlib.ExitStack()
        try:
            delay = self._acquire(stack, host)
        except RedisError as exc:
            stack.close()
            log.warning("politeness limiter unavailable (%s); leaving %s queued", exc, snapshot_id)
            raise SkipMessage(snapshot_id) from exc
        if delay is None:
            with self._lock:
                self._held[message.message_id] = stack
            return
        stack.close()
        self._defer(broker, message, snapshot_id, delay)
        raise SkipMessage(snapshot_id)

    def _acquire(self, stack: contextlib.ExitStack, host: str) -> float | None:
        """Take the host's slots; None when granted, else how long to wait before trying again."""
        if self.concurrency > 0:
            limiter = ConcurrentRateLimiter(
                self.backend,
                f"amber:host:{host}:concurrent",
                limit=self.concurrency,
                ttl=self.lease_ms,
            )
            if not stack.enter_context(limiter.acquire(raise_on_failure=False)):
                return random.uniform(0.5, 2.0)
        if self.per_minute > 0:
            window = WindowRateLimiter(
                self.backend, f"amber:host:{host}:minute", limit=self.per_minute, window=60
            )
            if not stack.enter_context(window.acquire(raise_on_failure=False)):
                return random.uniform(0.5, 1.5) * max(1.0, 60.0 / self.per_minute)
        return None

    def _defer(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        snapshot_id: str,
        delay: float,
    ) -> None:
        if self.stats is not None:
            self.stats.defer()
        with session_scope(self.engine) as session:
            until = seconds_from_now(delay + self.redeliver_after)
            states.defer(session, [snapshot_id], until=until)
        try:
            broker.get_actor(message.actor_name).send_with_options(
                args=message.args, delay=int(delay * 1000)
            )
        except Exception as exc:  # noqa: BLE001  (any broker error: the reconciler re-sends)
            log.warning("could not defer %s (%s); the reconciler will re-send it", snapshot_id, exc)

    def _release(self, message: MessageProxy) -> None:
        with self._lock:
            stack = self._held.pop(message.message_id, None)
        if stack is None:
            return
        try:
            stack.close()
        except RedisError as exc:
            log.warning("could not release a politeness slot (it will expire): %s", exc)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: object = None,
        exception: BaseException | None = None,
    ) -> None:
        self._release(message)

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._release(message)
