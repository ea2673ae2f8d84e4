"""Dramatiq broker set-up: Redis for a fleet, an in-process stub for embedded mode."""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.brokers.stub import StubBroker
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from crawler.settings import Settings

CAPTURE_QUEUE = "captures"
HEARTBEAT_TIMEOUT_MS = 15_000
MAINTENANCE_CHANCE = 10_000  # out of dramatiq's 1,000,000


def redis_client(url: str) -> redis.Redis:
    """A client that gives up fast: short socket timeouts and two quick retries.

    With Redis down a send then fails in about a second (the row stays queued
    for the reconciler) instead of hanging an API request for ten.
    """
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2)
    return redis.Redis.from_url(
        url, socket_timeout=5, socket_connect_timeout=2, retry=retry, health_check_interval=15
    )


def make_broker(settings: Settings) -> dramatiq.Broker:
    """The broker for these settings; the DB stays the source of truth either way."""
    if settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        # A SIGKILLed worker's prefetched messages go back to the queue once its
        # heartbeat is HEARTBEAT_TIMEOUT_MS old; maintenance (which does that) runs
        # on about 1 in 100 broker commands instead of dramatiq's 1 in 1000.
        broker: dramatiq.Broker = RedisBroker(
            client=redis_client(settings.broker_url),
            heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
            maintenance_chance=MAINTENANCE_CHANCE,
        )
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    return broker
