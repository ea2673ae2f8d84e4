"""Re-sends work the broker lost: expired leases and queued rows past their deadline.

The database is the source of truth; this loop is why a dead worker or a
restarted Redis never loses a queued URL. Duplicate messages are harmless
because claims are conditional.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from crawler import snapshot_states as states
from crawler import snapshots as snaps
from crawler.clock import seconds_from_now
from crawler.db import session_scope
from workers.periodic import JobContext, run_periodic

log = logging.getLogger(__name__)


def reconcile_once(
    engine: Engine,
    dispatch: Callable[[Sequence[str]], None],
    *,
    redeliver_after: float,
    limit: int = 1000,
) -> int:
    """One pass; returns how many snapshots were re-sent."""
    with session_scope(engine) as session:
        due = snaps.due_for_delivery(session, limit=limit)
        states.defer(session, due, until=seconds_from_now(redeliver_after))
    if due:
        log.info("reconciler re-sending %d snapshot(s)", len(due))
        dispatch(due)
    return len(due)


class Reconciler:
    """Runs `reconcile_once` every `interval` seconds in a daemon thread."""

    def __init__(
        self,
        engine: Engine,
        dispatch: Callable[[Sequence[str]], None],
        *,
        interval: float,
        redeliver_after: float,
        jobs: JobContext | None = None,
    ) -> None:
        self.jobs = jobs
        self.engine = engine
        self.dispatch = dispatch
        self.interval = interval
        self.redeliver_after = redeliver_after
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="amber-reconciler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                reconcile_once(self.engine, self.dispatch, redeliver_after=self.redeliver_after)
            except SQLAlchemyError as exc:
                log.warning("reconciler pass failed: %s", exc)
            if self.jobs is not None:
                run_periodic(self.jobs)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
