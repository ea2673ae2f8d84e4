"""Prometheus `/metrics` for the whole fleet, rendered from the database alone.

Each worker writes a JSON summary of its counters and histograms into its
`FleetWorker` row every heartbeat (`workers.metrics`); this renders one series
per worker (label ``worker``). Counters stay monotonic per series, so
``rate()`` and ``sum()`` in PromQL give fleet-wide numbers, and a worker that
dies simply ends its series. The cost is up to one heartbeat interval of
staleness. Reading rows rather than in-process counters is what lets an
API-only node, which loads no worker code, answer for every worker.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from crawler.clock import as_utc
from crawler.fleet import DURATION_BUCKETS, LATENCY_BUCKETS, WorkerView


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
    recycles = CounterMetricFamily(
        "amber_browser_recycles",
        "Chromium relaunches to bound its memory (AMBER_BROWSER_RECYCLE_*).",
        labels=["worker"],
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
        recycles.add_metric([worker], float(stats.get("recycles", 0)))
        deferred.add_metric([worker], float(stats.get("deferred", 0)))
        beat = as_utc(row.last_heartbeat)
        if beat is not None:
            heartbeat.add_metric([worker], beat.timestamp())
        for extractor, data in sorted((stats.get("durations") or {}).items()):
            _histogram(duration, [worker, extractor], data, DURATION_BUCKETS)
        if stats.get("claim_latency"):
            _histogram(latency, [worker], stats["claim_latency"], LATENCY_BUCKETS)
    yield from (captures, failures, restarts, recycles, deferred, heartbeat, duration, latency)


class _Collected:
    """A one-shot collector over numbers already read from the database."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


def render(queue: Mapping[str, int], workers: Iterable[WorkerView]) -> bytes:
    """The Prometheus text exposition of `fleet_metrics`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collected(list(fleet_metrics(queue, workers))))  # type: ignore[arg-type]
    return bytes(generate_latest(registry))
