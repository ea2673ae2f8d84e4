"""The fleet's worker middleware, wired in one place for every worker process.

`build_node` calls `fleet_middleware` for any process that captures, embedded
or fleet: heartbeats and the worker table, claim release on shutdown, claim
latency, and per-host politeness (Redis-backed in a fleet, in-process stub
when embedded).
"""

from __future__ import annotations

import dramatiq
from dramatiq.rate_limits import RateLimiterBackend
from dramatiq.rate_limits.backends import RedisBackend, StubBackend

from workers.heartbeat import Heartbeat
from workers.metrics import ClaimLatency, WorkerStats
from workers.ratelimit import HostPoliteness
from workers.runtime import Runtime
from workers.shutdown import ReleaseOnShutdown


def stats_of(runtime: Runtime) -> WorkerStats:
    """The stats object the runtime's (metered) browser fills, or a fresh one."""
    stats = getattr(runtime.browser, "stats", None)
    return stats if isinstance(stats, WorkerStats) else WorkerStats()


def limiter_backend(broker: dramatiq.Broker) -> RateLimiterBackend:
    client = getattr(broker, "client", None)
    return RedisBackend(client=client) if client is not None else StubBackend()


def fleet_middleware(runtime: Runtime, broker: dramatiq.Broker) -> list[dramatiq.Middleware]:
    settings = runtime.settings
    stats = stats_of(runtime)
    return [
        ClaimLatency(stats),
        HostPoliteness(
            engine=runtime.engine,
            backend=limiter_backend(broker),
            concurrency=settings.host_concurrency,
            per_minute=settings.host_rate_per_minute,
            # a host slot must outlive the longest capture, not just one heartbeat lease
            lease=max(settings.lease, settings.capture_timeout + 30),
            redeliver_after=settings.redeliver_seconds,
            stats=stats,
        ),
        ReleaseOnShutdown(runtime),
        Heartbeat(runtime, stats, interval=settings.heartbeat_seconds),
    ]
