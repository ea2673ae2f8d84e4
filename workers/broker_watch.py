"""Notices that the broker lost its queue, so the reconciler can re-send everything at once.

Redis holds the queue in memory; a restart without persistence, a failover to
an empty replica or a ``FLUSHALL`` drops every message while the database still
says ``queued``. Waiting out the redelivery deadline would take minutes, so
instead a marker key lives beside the queue: it vanishes exactly when the queue
does. When a reconciler finds it gone, one of them (the holder of a short Redis
lock) re-sends every queued snapshot from the database and then sets the marker
again. Duplicate messages are harmless: claims are conditional.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import redis

from crawler.clock import iso, utcnow

log = logging.getLogger(__name__)

MARKER_KEY = "amber:broker-marker"
LOCK_KEY = "amber:broker-recovery"
LOCK_SECONDS = 60  # a recovering process that dies gives the job to another after this


class BrokerWatch:
    """Checks the marker; `claim_recovery` says whether this process must re-send the queue."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.token = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"

    def claim_recovery(self) -> bool:
        """True when the marker is gone and this process won the right to re-send.

        A broker that cannot be reached is not a lost queue (yet): False, and the
        next check after it comes back decides.
        """
        try:
            if self.client.exists(MARKER_KEY):
                return False
            return bool(self.client.set(LOCK_KEY, self.token, nx=True, ex=LOCK_SECONDS))
        except redis.RedisError as exc:
            log.debug("broker check failed: %s", exc)
            return False

    def recovered(self) -> None:
        """Set the marker after a full re-send, and let go of the lock."""
        try:
            self.client.set(MARKER_KEY, iso(utcnow()))
        except redis.RedisError as exc:
            log.warning("could not set the broker marker (%s); the next check re-sends", exc)
        self.release()

    def release(self) -> None:
        """Give up the recovery lock (if still ours), so another process can try at once."""
        try:
            if self.client.get(LOCK_KEY) == self.token.encode():
                self.client.delete(LOCK_KEY)
        except redis.RedisError as exc:
            log.debug("could not release the recovery lock: %s", exc)


def watch_for(broker: object) -> BrokerWatch | None:
    """A watch for a Redis broker; None for the in-process broker, which cannot lose a queue."""
    client = getattr(broker, "client", None)
    return BrokerWatch(client) if client is not None else None
