"""Graceful shutdown: a stopping worker finishes its captures or hands them back.

Dramatiq's `Worker.stop` lets each worker thread finish the message it is on,
up to a timeout. Whatever is still running after that belongs to a process
about to exit, so its claims go straight back to `queued` (attempt refunded)
instead of waiting for the lease to expire.
"""

from __future__ import annotations

import logging

import dramatiq
from sqlalchemy.exc import SQLAlchemyError

from crawler import snapshot_states as states
from crawler.db import session_scope
from workers.runtime import Runtime

log = logging.getLogger(__name__)


class ReleaseOnShutdown(dramatiq.Middleware):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        release_unfinished(self.runtime)


def release_unfinished(runtime: Runtime) -> int:
    """Give back every claim this process still holds; returns how many were released."""
    with runtime.lock:
        unfinished = list(dict.fromkeys(runtime.current.values()))
    if not unfinished:
        return 0
    try:
        with session_scope(runtime.engine) as session:
            released = states.hand_back(
                session, worker_id=runtime.worker_id, snapshot_ids=unfinished
            )
    except SQLAlchemyError as exc:
        log.warning(
            "could not release %d claim(s); their leases will expire: %s", len(unfinished), exc
        )
        return 0
    log.warning("shutting down: released %d unfinished capture(s)", released)
    return released
