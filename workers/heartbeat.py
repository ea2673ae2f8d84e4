"""Heartbeats: each worker process keeps its row in the worker table fresh.

Every `interval` seconds a daemon thread writes the row (host, pid, current
snapshots, done/failed, metrics) and extends the leases of the snapshots the
process is still capturing. So leases can be short (a killed worker's claims
come back quickly) without a long capture ever losing its claim to the
reconciler. A process that stops beating shows as *lost*.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime
from typing import Any

import dramatiq
from sqlalchemy.exc import SQLAlchemyError

from crawler import __version__
from crawler import fleet as registry
from crawler import snapshot_states as states
from crawler.clock import as_utc, utcnow
from crawler.db import session_scope
from workers.metrics import WorkerStats
from workers.runtime import Runtime

log = logging.getLogger(__name__)

PRUNE_EVERY = 60  # beats between clean-ups of long-gone workers
STOPPED_KEEP = 3600.0
LOST_KEEP = 24 * 3600.0


class Heartbeat(dramatiq.Middleware):
    """Registers the worker at boot, beats while it runs, marks it stopped at shutdown."""

    def __init__(self, runtime: Runtime, stats: WorkerStats, *, interval: float) -> None:
        self.runtime = runtime
        self.stats = stats
        self.interval = max(0.2, interval)
        self.threads = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._beats = 0

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.threads = worker.worker_threads
        self.beat()
        self._thread = threading.Thread(target=self._run, name="amber-heartbeat", daemon=True)
        self._thread.start()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.beat()  # the final counters
            with session_scope(self.runtime.engine) as session:
                registry.mark_stopped(session, self.runtime.worker_id)
        except SQLAlchemyError as exc:
            log.warning("could not mark worker %s stopped: %s", self.runtime.worker_id, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except SQLAlchemyError as exc:
                log.warning("heartbeat failed (will retry): %s", exc)

    def beat(self) -> None:
        rt = self.runtime
        with rt.lock:
            current = tuple(dict.fromkeys(rt.current.values()))
            done = rt.counters["captures_succeeded"]
            failed = rt.counters["captures_failed"]
        stats: dict[str, Any] = self.stats.as_json(
            restarts=rt.browser.restarts, recycles=rt.browser.recycles
        )
        started = as_utc(rt.started_at) if isinstance(rt.started_at, datetime) else None
        with session_scope(rt.engine) as session:
            registry.heartbeat(
                session,
                registry.Beat(
                    worker_id=rt.worker_id,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    version=__version__,
                    threads=self.threads,
                    started_at=started or utcnow(),
                    current=current,
                    done=done,
                    failed=failed,
                    stats=stats,
                ),
            )
            states.extend_leases(
                session, worker_id=rt.worker_id, snapshot_ids=current, lease=rt.settings.lease
            )
            self._beats += 1
            if self._beats % PRUNE_EVERY == 0:
                registry.prune(session, stopped_for=STOPPED_KEEP, lost_for=LOST_KEEP)
