"""Capture metrics, gathered in each worker process and published through the worker table.

Why the table and not Prometheus' multiprocess mode: in a fleet the process
that answers ``/metrics`` (an API node) runs no captures, and the workers are
on other machines. Each worker already writes its row every heartbeat, so it
adds a JSON summary of its counters and histograms there (this module), and
``/metrics`` reads all rows and renders one series per worker (`api.metrics`).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy

from crawler.errors import CaptureError
from crawler.fleet import DURATION_BUCKETS, LATENCY_BUCKETS
from extractors.engine.browser import BrowserService
from extractors.engine.page import CaptureOutcome, CaptureRequest

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

    def as_json(self, *, restarts: int, recycles: int = 0) -> dict[str, Any]:
        with self._lock:
            return {
                "durations": {name: h.as_json() for name, h in self.durations.items()},
                "claim_latency": self.claim_latency.as_json(),
                "failures": dict(self.failures),
                "deferred": self.deferred,
                "restarts": restarts,
                "recycles": recycles,
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
