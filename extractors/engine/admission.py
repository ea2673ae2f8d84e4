"""When a worker may start another page: while the machine's CPUs have room.

A page spends most of its capture waiting (the settle minimum, quiet windows,
lazy-load pauses), so a browser should hold many pages in flight for the CPUs,
not the waiting, to be the limit. Yet a fixed number that keeps two cores busy
with small pages squeezes heavy ones: each gets a share of the CPU, and all of
them near their capture budget. So `worker_threads` is the most pages in flight,
and this gate starts the next one only while the CPUs were less than
`busy_percent` busy over the last WINDOW seconds (at most one start per
tenth, so a dip does not let a crowd in), or while fewer than `minimum` run.
The window is a second, not a tenth: a page's CPU comes in bursts (its load,
then its screenshot and PDF) between waits, so a tenth-long look at a machine
busy 60% on average saw a burst most of the time and held pages the CPUs had
room for (30 pages: 9.6 s in flight at 24 slots, 7.8 s with the gate off).

Memory is the other limit: beyond `minimum`, no page starts while the machine
has less than `memory_floor_mb` MiB available (``MemAvailable`` in
``/proc/meminfo``), so many slots are safe on a small machine.

The waiting happens in the calling worker thread, before the capture's budget
starts: a page held at the gate is not a page running late.

Busy is read from ``/proc/stat`` (the whole machine, other processes included:
they take the same cores). Where it cannot be read, every page is let in.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

STEP = 0.1  # seconds between looks at the CPUs while a page waits
WINDOW = 1.0  # seconds of CPU time the busy share is taken over
PROC_STAT = Path("/proc/stat")
PROC_MEMINFO = Path("/proc/meminfo")


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


def read_memory_available(path: Path = PROC_MEMINFO) -> float | None:
    """MiB the kernel says can be had without swapping; None where it does not say."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) / 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        return None
    return None


class AdmissionGate:
    """Lets capture slots open while the CPUs and memory have room (see the module docstring)."""

    def __init__(
        self,
        *,
        busy_percent: float,
        minimum: int = 2,
        memory_floor_mb: float = 0.0,
        read: Callable[[], tuple[float, float] | None] = read_cpu_times,
        read_memory: Callable[[], float | None] = read_memory_available,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.busy_percent = busy_percent
        self.minimum = minimum
        self.memory_floor_mb = memory_floor_mb
        self._read_memory = read_memory
        self.running = 0
        self.held = 0  # pages that waited at the gate (for the stats)
        self._read = read
        self._clock = clock
        self._lock = threading.Condition()
        # (when, busy, total); stays empty where /proc/stat cannot be read, never empties
        self._samples: deque[tuple[float, float, float]] = deque()
        first = read()
        if first is not None:
            self._samples.append((clock(), *first))
        self._busy = 0.0
        self._last_start = float("-inf")

    def _cpu_busy(self) -> float:
        """Percent of CPU time busy over the last WINDOW, refreshed at most every STEP."""
        now = self._clock()
        if self._samples and now - self._samples[-1][0] >= STEP:
            sample = self._read()
            if sample is not None:
                self._samples.append((now, *sample))
                while len(self._samples) > 2 and now - self._samples[1][0] >= WINDOW:
                    self._samples.popleft()
                _, busy0, total0 = self._samples[0]
                busy, total = sample[0] - busy0, sample[1] - total0
                self._busy = 100.0 * busy / total if total > 0 else self._busy
        return self._busy

    def may_start(self) -> bool:
        """Whether one more page may start now (the caller holds the lock)."""
        if self.running < self.minimum:
            return True
        if self.memory_floor_mb > 0:
            available = self._read_memory()
            if available is not None and available < self.memory_floor_mb:
                return False
        if self.busy_percent >= 100 or not self._samples:
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
