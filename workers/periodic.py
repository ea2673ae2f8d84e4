"""Periodic jobs that run beside the reconciler (expiry purges, schedules, heartbeats).

Each job is a plain function of the node's engine, blobs and dispatch; add a
line to `PERIODIC_JOBS` to register one. Jobs must be idempotent: every API and
worker node runs them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from crawler import alerts, crawls, schedules
from crawler.blobs import BlobStore
from crawler.clock import utcnow
from crawler.settings import Settings

log = logging.getLogger(__name__)

Dispatch = Callable[[Sequence[str]], None]


@dataclass(frozen=True)
class JobContext:
    engine: Engine
    blobs: BlobStore
    dispatch: Dispatch
    settings: Settings | None = None  # without it, jobs that need settings (webhooks) skip


PeriodicJob = Callable[[JobContext], None]


def purge_expired_dashboard_snapshots(context: JobContext) -> None:
    """Expired snapshots are already hidden from every call; this reclaims their rows."""
    from crawler.db import session_scope
    from crawler.domains.dashboards import purge_expired

    with session_scope(context.engine) as session:
        if purged := purge_expired(session):
            log.info("purged %d expired dashboard snapshot(s)", purged)


PERIODIC_JOBS: list[PeriodicJob] = [purge_expired_dashboard_snapshots]


def run_periodic(context: JobContext) -> None:
    for job in PERIODIC_JOBS:
        try:
            job(context)
        except Exception:  # noqa: BLE001  (one failing job must not stop the others)
            log.exception("periodic job %s failed", getattr(job, "__name__", job))


def fire_schedules(context: JobContext, *, now: datetime | None = None) -> None:
    """Re-archive what is due; `now` is injectable so tests never sleep for a schedule."""
    schedules.fire_due(context.engine, now=now or utcnow(), dispatch=context.dispatch)


def seal_crawls(context: JobContext) -> None:
    """Seal crawls whose last snapshot finished without going through the link hook."""
    crawls.seal_finished(context.engine)


def deliver_change_alerts(context: JobContext, *, now: datetime | None = None) -> None:
    """POST the change alerts that are due; a slow or failing webhook never touches captures."""
    if context.settings is None:
        return
    deliver_alerts(context.engine, context.settings, now=now)


def deliver_alerts(engine: Engine, settings: Settings, *, now: datetime | None = None) -> int:
    return alerts.deliver_due(
        engine,
        networks=settings.networks,
        base_url=settings.base_url,
        timeout=settings.webhook_timeout,
        max_attempts=settings.webhook_max_attempts,
        backoff=settings.webhook_backoff,
        now=now,
    )


PERIODIC_JOBS.extend((fire_schedules, seal_crawls, deliver_change_alerts))
