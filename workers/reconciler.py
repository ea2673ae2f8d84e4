"""Re-sends work the broker lost: expired leases, queued rows past their deadline, lost queues.

The database is the source of truth; this loop is why a dead worker or a
restarted Redis never loses a queued URL. Every `broker_check` seconds it looks
for the broker's marker (`workers.broker_watch`): gone means the queue is gone,
and every queued snapshot is re-sent at once instead of at its deadline.
Duplicate messages are harmless because claims are conditional.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from crawler import snapshot_states as states
from crawler import snapshots as snaps
from crawler.clock import seconds_from_now
from crawler.db import session_scope
from workers.broker_watch import BrokerWatch
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


def recover_lost_queue(
    engine: Engine,
    dispatch: Callable[[Sequence[str]], None],
    *,
    redeliver_after: float,
    chunk: int = 1000,
) -> int:
    """Re-send every queued snapshot now (the broker lost its queue); returns how many."""
    sent, after = 0, ""
    while True:
        with session_scope(engine) as session:
            batch = snaps.scheduled_after(session, after=after, limit=chunk)
            states.defer(session, batch, until=seconds_from_now(redeliver_after))
        if not batch:
            return sent
        dispatch(batch)
        sent += len(batch)
        after = batch[-1]


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
        watch: BrokerWatch | None = None,
        broker_check: float = 2.0,
    ) -> None:
        self.jobs = jobs
        self.engine = engine
        self.dispatch = dispatch
        self.interval = interval
        self.redeliver_after = redeliver_after
        self.watch = watch
        self.broker_check = max(0.1, broker_check) if watch is not None else interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="amber-reconciler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        next_pass = 0.0
        while not self._stop.is_set():
            self.check_broker()
            if time.monotonic() >= next_pass:
                try:
                    reconcile_once(self.engine, self.dispatch, redeliver_after=self.redeliver_after)
                except SQLAlchemyError as exc:
                    log.warning("reconciler pass failed: %s", exc)
                if self.jobs is not None:
                    run_periodic(self.jobs)
                next_pass = time.monotonic() + self.interval
            self._stop.wait(min(self.broker_check, self.interval))

    def check_broker(self) -> int:
        """Re-send the whole queue if the broker lost it; returns how many were re-sent."""
        if self.watch is None or not self.watch.claim_recovery():
            return 0
        try:
            sent = recover_lost_queue(
                self.engine, self.dispatch, redeliver_after=self.redeliver_after
            )
        except SQLAlchemyError as exc:
            log.warning("re-sending the lost queue failed (will retry): %s", exc)
            self.watch.release()
            return 0
        self.watch.recovered()
        log.warning("the broker lost its queue; re-sent %d queued snapshot(s)", sent)
        return sent

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
