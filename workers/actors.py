"""The actors. They stay a few lines long: the work is in `workers.pipeline`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import dramatiq

from workers.broker import CAPTURE_QUEUE
from workers.pipeline import run_capture
from workers.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class Actors:
    capture: dramatiq.Actor  # type: ignore[type-arg]

    def dispatch(self, snapshot_ids: Sequence[str]) -> None:
        """Send one message per snapshot, after the caller committed them.

        A broker outage is logged, not raised: the rows stay `queued` and the
        reconciler re-sends them once the broker is back.
        """
        for snapshot_id in snapshot_ids:
            try:
                self.capture.send(snapshot_id)
            except Exception as exc:  # noqa: BLE001  (any broker error: the DB has the work)
                log.warning(
                    "could not send %s to the broker (%s); the reconciler will retry",
                    snapshot_id,
                    exc,
                )
                return


def register_actors(broker: dramatiq.Broker, runtime: Runtime | None) -> Actors:
    """Declare the actors on `broker`; `runtime` is None on API-only nodes (send only)."""

    def capture_snapshot(snapshot_id: str) -> None:
        if runtime is None:
            raise RuntimeError("this process only sends captures")
        result = run_capture(runtime, snapshot_id)
        if result.children:
            actors.dispatch(result.children)
        if result.retry_in is not None:
            actors.capture.send_with_options(args=(snapshot_id,), delay=int(result.retry_in * 1000))

    actor = dramatiq.Actor(
        capture_snapshot,
        broker=broker,
        actor_name="capture_snapshot",
        queue_name=CAPTURE_QUEUE,
        priority=0,
        options={"max_retries": 0, "time_limit": 24 * 3600 * 1000},
    )
    actors = Actors(capture=actor)
    return actors
