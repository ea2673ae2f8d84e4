"""When a worker may start another page: while the machine's CPUs have room.

A page spends most of its capture waiting (the settle minimum, quiet windows,
lazy-load pauses), so a browser should hold many pages in flight for the CPUs,
not the waiting, to be the limit. Yet a fixed number that keeps two cores busy
with small pages squeezes heavy ones: each gets a share of the CPU, and all of
them near their capture budget. So `worker_threads` is the most pages in flight,
and this gate starts the next one only while the CPUs were less than
`busy_percent` busy over the last tenth of a second (at most one start per
tenth, so a dip does not let a crowd in), or while fewer than `minimum` run.

The waiting happens in the calling worker thread, before the capture's budget
starts: a page held at the gate is not a page running late.

Busy is read from ``/proc/stat`` (the whole machine, other processes included:
they take the same cores). Where it cannot be read, every page is let in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

STEP = 0.1  # seconds between looks at the CPUs while a page waits
PROC_STAT = Path("/proc/stat")


def read_cpu_times(path: Path = PROC_STAT) -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs since boot; None where /proc/stat is not there."""
    try:
        first = path.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    values = [float(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user time
    return total - idle, total


class AdmissionGate:
    """Lets capture slots open while the CPUs have room (see the module docstring)."""

    def __init__(
        self,
        *,
        busy_percent: float,
        minimum: int = 2,
        read: Callable[[], tuple[float, float] | None] = read_cpu_times,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.busy_percent = busy_percent
        self.minimum = minimum
        self.running = 0
        self.held = 0  # pages that waited at the gate (for the stats)
        self._read = read
        self._clock = clock
        self._lock = threading.Condition()
        self._sample = read()
        self._sampled_at = clock()
        self._busy = 0.0
        self._last_start = float("-inf")

    def _cpu_busy(self) -> float:
        """Percent of CPU time busy since the previous look, refreshed at most every STEP."""
        now = self._clock()
        if now - self._sampled_at >= STEP:
            sample = self._read()
            if sample is not None and self._sample is not None:
                busy = sample[0] - self._sample[0]
                total = sample[1] - self._sample[1]
                self._busy = 100.0 * busy / total if total > 0 else self._busy
            self._sample, self._sampled_at = sample, now
        return self._busy

    def may_start(self) -> bool:
        """Whether one more page may start now (the caller holds the lock)."""
        if self.busy_percent >= 100 or self._sample is None or self.running < self.minimum:
            return True
        now = self._clock()
        return now - self._last_start >= STEP and self._cpu_busy() < self.busy_percent

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a capture slot for the block; blocks until the gate lets this page in."""
        with self._lock:
            waited = False
            while not self.may_start():
                waited = True
                self._lock.wait(STEP)
            self.held += waited
            self.running += 1
            self._last_start = self._clock()
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1
                self._lock.notify()
