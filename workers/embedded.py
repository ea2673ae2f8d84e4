"""Everything a single process needs to archive: store, blobs, broker, workers, reconciler.

`amber add`, `amber serve` and `amber worker` all build a `Node`; only the
settings decide whether the broker is in-process or Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import dramatiq
from sqlalchemy.engine import Engine

from crawler.blobs import BlobStore
from crawler.db import open_store
from crawler.robots import ROBOTS
from crawler.settings import Settings
from crawler.urls import DNS
from extractors.registry import EXTRACTORS, preload
from workers.actors import Actors, register_actors
from workers.broker import make_broker
from workers.broker_watch import watch_for
from workers.fleet import fleet_middleware
from workers.metrics import MeteredBrowser
from workers.middleware import BrowserLifecycle
from workers.periodic import JobContext
from workers.reconciler import Reconciler
from workers.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class Node:
    settings: Settings
    engine: Engine
    blobs: BlobStore
    broker: dramatiq.Broker
    actors: Actors
    runtime: Runtime | None = None
    worker: dramatiq.Worker | None = None
    reconciler: Reconciler | None = None
    extra: list[object] = field(default_factory=list)

    def dispatch(self, snapshot_ids: Sequence[str]) -> None:
        self.actors.dispatch(snapshot_ids)

    def start(self) -> Node:
        if self.worker is not None:
            self.worker.start()
        if self.reconciler is not None:
            self.reconciler.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop; running captures get `timeout` seconds to finish (default: one capture budget)."""
        if self.reconciler is not None:
            self.reconciler.stop()
        if self.worker is not None:
            grace = self.settings.capture_timeout + 30 if timeout is None else timeout
            self.worker.stop(timeout=int(grace * 1000))
        self.engine.dispose()


def build_node(
    settings: Settings,
    *,
    workers: bool = True,
    reconcile: bool = True,
    threads: int | None = None,
    one_shot: bool = False,
) -> Node:
    """Wire a process: API-only nodes pass workers=False and only send messages.

    `one_shot` is for a command that archives and exits (`amber add`): Chromium's
    launch starts before the store is opened, so the two overlap, and idle worker
    threads wake often, so stopping at the end takes a tenth of a second, not half one.
    """
    browser = (
        MeteredBrowser(
            executable_path=settings.chromium_executable(),
            extractors=EXTRACTORS,
            recycle_pages=settings.browser_recycle_pages,
            recycle_mb=settings.browser_recycle_mb,
            busy_percent=settings.cpu_admit_percent,
            memory_floor_mb=settings.memory_admit_mb,
        )
        if workers
        else None
    )
    if browser is not None:
        preload()
        if one_shot:
            browser.warm()
    try:
        engine, blobs = open_store(settings)
    except BaseException:
        if browser is not None and one_shot:
            browser.stop()
        raise
    DNS.ttl = settings.dns_cache_seconds
    ROBOTS.ttl = settings.robots_cache_seconds
    broker = make_broker(settings)
    runtime: Runtime | None = None
    if browser is not None:
        runtime = Runtime(settings=settings, engine=engine, blobs=blobs, browser=browser)
        broker.add_middleware(BrowserLifecycle(runtime))
        for middleware in fleet_middleware(runtime, broker):
            broker.add_middleware(middleware)
    actors = register_actors(broker, runtime)
    worker = (
        dramatiq.Worker(
            broker,
            worker_threads=threads or settings.worker_threads,
            worker_timeout=50 if one_shot else 250,
        )
        if workers
        else None
    )
    node = Node(
        settings=settings,
        engine=engine,
        blobs=blobs,
        broker=broker,
        actors=actors,
        runtime=runtime,
        worker=worker,
    )
    if reconcile:
        node.reconciler = Reconciler(
            engine,
            node.dispatch,
            interval=settings.reconcile_interval,
            redeliver_after=settings.redeliver_seconds,
            jobs=JobContext(engine=engine, blobs=blobs, dispatch=node.dispatch, settings=settings),
            watch=watch_for(broker),
            broker_check=settings.broker_check_seconds,
        )
    return node
