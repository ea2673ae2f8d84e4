"""Capture metrics: gathered in each worker process, published through the worker table.

Why the table and not Prometheus' multiprocess mode: in a fleet the process
that answers ``/metrics`` (an API node) runs no captures, and the workers are
on other machines. Each worker already writes its row every heartbeat, so it
adds a JSON summary of its counters and histograms there; ``/metrics`` reads
all rows and renders one series per worker (label ``worker``). Counters stay
monotonic per series, so ``rate()`` and ``sum()`` in PromQL give fleet-wide
numbers, and a worker that dies simply ends its series. The cost is up to one
heartbeat interval of staleness.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from crawler.clock import as_utc
from crawler.errors import CaptureError
from crawler.fleet import WorkerView
from extractors.browser import BrowserService
from extractors.page import CaptureOutcome, CaptureRequest

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
NET_ERROR = re.compile(r"net::(ERR_[A-Z_]+)")


@dataclass
class Histogram:
    """Plain bucket counts (not cumulative) plus one overflow bucket, sum and count."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        index = next((i for i, bound in enumerate(self.bounds) if value <= bound), len(self.bounds))
        self.counts[index] += 1
        self.total += value
        self.count += 1

    def as_json(self) -> dict[str, Any]:
        return {"b": list(self.counts), "sum": round(self.total, 6), "count": self.count}


class WorkerStats:
    """Thread-safe counters and histograms for one worker process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.durations: dict[str, Histogram] = {}
        self.claim_latency = Histogram(LATENCY_BUCKETS)
        self.failures: Counter[str] = Counter()
        self.deferred = 0

    def observe_duration(self, extractor: str, seconds: float) -> None:
        with self._lock:
            self.durations.setdefault(extractor, Histogram(DURATION_BUCKETS)).observe(seconds)

    def observe_claim_latency(self, seconds: float) -> None:
        with self._lock:
            self.claim_latency.observe(max(0.0, seconds))

    def failure(self, reason: str) -> None:
        with self._lock:
            self.failures[reason] += 1

    def defer(self) -> None:
        with self._lock:
            self.deferred += 1

    def as_json(self, *, restarts: int) -> dict[str, Any]:
        with self._lock:
            return {
                "durations": {name: h.as_json() for name, h in self.durations.items()},
                "claim_latency": self.claim_latency.as_json(),
                "failures": dict(self.failures),
                "deferred": self.deferred,
                "restarts": restarts,
            }


def failure_reason(exc: CaptureError) -> str:
    """A low-cardinality label: Chromium's net error code when there is one, else the kind."""
    match = NET_ERROR.search(exc.message)
    return match.group(1) if match else type(exc).__name__


class MeteredBrowser(BrowserService):
    """The browser service, timing every capture and each extractor within it."""

    def __init__(self, *, stats: WorkerStats | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stats = stats or WorkerStats()

    def capture(self, request: CaptureRequest) -> CaptureOutcome:
        started = time.monotonic()
        try:
            outcome = super().capture(request)
        except CaptureError as exc:
            self.stats.failure(failure_reason(exc))
            raise
        finally:
            self.stats.observe_duration("total", time.monotonic() - started)
        for name, output in outcome.outputs.items():
            if output.status == "skipped":
                continue
            self.stats.observe_duration(name, (output.end_ts - output.start_ts).total_seconds())
            if output.status == "failed":
                self.stats.failure(f"extractor:{name}")
        return outcome


class ClaimLatency(dramatiq.Middleware):
    """Time from a message being due (sent, or its delay over) to a worker picking it up."""

    def __init__(self, stats: WorkerStats) -> None:
        self.stats = stats

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        due_ms = message.options.get("eta") or message.message_timestamp
        self.stats.observe_claim_latency(time.time() - int(due_ms) / 1000)


def _histogram(
    family: HistogramMetricFamily,
    labels: list[str],
    data: Mapping[str, Any],
    bounds: tuple[float, ...],
) -> None:
    counts = list(data.get("b", []))
    if len(counts) != len(bounds) + 1:
        return
    cumulative, running = [], 0
    for bound, count in zip((*map(str, bounds), "+Inf"), counts, strict=True):
        running += int(count)
        cumulative.append((bound, float(running)))
    family.add_metric(labels, cumulative, float(data.get("sum", 0.0)))


def fleet_metrics(queue: Mapping[str, int], workers: Iterable[WorkerView]) -> Iterator[Metric]:
    """Prometheus families for the queue (from the DB) and every registered worker."""
    depth = GaugeMetricFamily(
        "amber_queue_depth", "Snapshots in each state, from the database.", labels=["status"]
    )
    for status in ("queued", "started", "succeeded", "failed", "sealed"):
        depth.add_metric([status], float(queue.get(status, 0)))
    yield depth

    views = list(workers)
    states = GaugeMetricFamily("amber_workers", "Registered workers by state.", labels=["state"])
    for state in ("alive", "lost", "stopped"):
        states.add_metric([state], float(sum(1 for v in views if v.state == state)))
    yield states

    captures = CounterMetricFamily(
        "amber_captures", "Captures finished, by outcome.", labels=["worker", "outcome"]
    )
    failures = CounterMetricFamily(
        "amber_capture_failures",
        "Failed captures and extractors, by reason.",
        labels=["worker", "reason"],
    )
    restarts = CounterMetricFamily(
        "amber_browser_restarts", "Chromium relaunches after a crash.", labels=["worker"]
    )
    deferred = CounterMetricFamily(
        "amber_politeness_deferrals", "Captures put off by per-host limits.", labels=["worker"]
    )
    heartbeat = GaugeMetricFamily(
        "amber_worker_last_heartbeat_seconds", "Unix time of the last heartbeat.", labels=["worker"]
    )
    duration = HistogramMetricFamily(
        "amber_capture_duration_seconds",
        "Capture time per extractor (extractor=total: the whole page).",
        labels=["worker", "extractor"],
    )
    latency = HistogramMetricFamily(
        "amber_claim_latency_seconds",
        "From a capture message being due to a worker picking it up.",
        labels=["worker"],
    )
    for view in views:
        if view.state == "stopped":
            continue
        row, worker = view.row, view.row.id
        stats = row.stats or {}
        captures.add_metric([worker, "succeeded"], float(row.done))
        captures.add_metric([worker, "failed"], float(row.failed))
        for reason, count in sorted((stats.get("failures") or {}).items()):
            failures.add_metric([worker, reason], float(count))
        restarts.add_metric([worker], float(stats.get("restarts", 0)))
        deferred.add_metric([worker], float(stats.get("deferred", 0)))
        beat = as_utc(row.last_heartbeat)
        if beat is not None:
            heartbeat.add_metric([worker], beat.timestamp())
        for extractor, data in sorted((stats.get("durations") or {}).items()):
            _histogram(duration, [worker, extractor], data, DURATION_BUCKETS)
        if stats.get("claim_latency"):
            _histogram(latency, [worker], stats["claim_latency"], LATENCY_BUCKETS)
    yield from (captures, failures, restarts, deferred, heartbeat, duration, latency)
