"""Dramatiq broker set-up: Redis for a fleet, an in-process stub for embedded mode."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker

from crawler.settings import Settings

CAPTURE_QUEUE = "captures"


def make_broker(settings: Settings) -> dramatiq.Broker:
    """The broker for these settings; the DB stays the source of truth either way."""
    if settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        broker: dramatiq.Broker = RedisBroker(url=settings.broker_url)
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    return broker
