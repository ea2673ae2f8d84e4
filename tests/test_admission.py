"""The admission gate: pages start while the CPUs have room, a few always run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from extractors.engine.admission import (
    STEP,
    WINDOW,
    AdmissionGate,
    read_cpu_times,
    read_memory_available,
)


class Machine:
    """CPU counters that advance as the test says: `busy` percent of each step."""

    def __init__(self) -> None:
        self.now = 0.0
        self.busy_jiffies = 0.0
        self.total_jiffies = 0.0
        self.busy = 0.0

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.total_jiffies += seconds * 100
        self.busy_jiffies += seconds * self.busy

    def read(self) -> tuple[float, float]:
        return self.busy_jiffies, self.total_jiffies


def gated(
    percent: float, *, busy_percent: float = 90, minimum: int
) -> tuple[Machine, AdmissionGate]:
    """A gate on a machine that has since been `percent` busy for a second."""
    machine = Machine()
    gate = AdmissionGate(
        busy_percent=busy_percent, minimum=minimum, read=machine.read, clock=lambda: machine.now
    )
    machine.busy = percent
    machine.advance(1)
    return machine, gate


def test_a_saturated_machine_holds_pages_beyond_the_minimum() -> None:
    # Given a gate at 90% with two pages always allowed, on a machine 100% busy
    machine, gate = gated(100, minimum=2)
    # When two pages run, Then a third may not start
    gate.running = 2
    assert not gate.may_start()
    # When the CPUs fall to 50% busy for a step, Then it still may not: the share is a second's
    machine.busy = 50
    machine.advance(STEP)
    assert not gate.may_start()
    # When they stay there for the whole window, Then it may
    machine.advance(WINDOW)
    assert gate.may_start()


def test_a_burst_shorter_than_the_window_does_not_close_the_gate() -> None:
    # Given a machine 50% busy for a second (pages waiting out their settle time)
    machine, gate = gated(50, minimum=0)
    for _ in range(int(WINDOW / STEP)):
        machine.advance(STEP)
        assert gate.may_start()
    # When one page's screenshot takes both cores for a tenth, Then others may still start
    machine.busy = 100
    machine.advance(STEP)
    assert gate.may_start()


def test_pages_beyond_the_minimum_wait_for_memory() -> None:
    # Given a gate that wants 1,024 MiB free, on an idle machine with 600 MiB available
    machine = Machine()
    free: list[float | None] = [600.0]
    gate = AdmissionGate(
        busy_percent=100,
        minimum=2,
        memory_floor_mb=1024,
        read=machine.read,
        read_memory=lambda: free[0],
        clock=lambda: machine.now,
    )
    # Then two pages may start, a third may not
    gate.running = 1
    assert gate.may_start()
    gate.running = 2
    assert not gate.may_start()
    # When memory is freed, Then it may; and where memory cannot be read, nothing is held
    free[0] = 4096.0
    assert gate.may_start()
    free[0] = None
    assert gate.may_start()


def test_below_the_minimum_pages_start_however_busy() -> None:
    _, gate = gated(100, minimum=2)
    gate.running = 1
    assert gate.may_start()


def test_one_start_per_step_so_a_dip_does_not_let_a_crowd_in() -> None:
    machine, gate = gated(10, minimum=0)
    with gate.slot():
        # Then a second page right after the first waits for the next step
        assert not gate.may_start()
        machine.advance(STEP)
        assert gate.may_start()


def test_at_100_percent_and_without_proc_stat_every_page_starts() -> None:
    _, off = gated(100, busy_percent=100, minimum=0)
    blind = AdmissionGate(busy_percent=50, minimum=0, read=lambda: None)
    off.running = blind.running = 50
    assert off.may_start() and blind.may_start()


def test_a_held_page_starts_when_a_running_one_ends() -> None:
    # Given a real gate (real clock, a machine reported fully busy) with one page running
    ticks = iter(range(1, 10**9))

    def all_busy() -> tuple[float, float]:
        n = float(next(ticks))
        return n, n

    gate = AdmissionGate(busy_percent=90, minimum=1, read=all_busy)
    time.sleep(STEP)
    started = threading.Event()

    def second() -> None:
        with gate.slot():
            started.set()

    with gate.slot():
        waiting = threading.Thread(target=second)
        waiting.start()
        # Then the second page waits while the first runs
        assert not started.wait(3 * STEP)
    # When the first ends, Then the second starts and the gate counts it as held
    assert started.wait(5)
    waiting.join(5)
    assert gate.held == 1 and gate.running == 0


def test_proc_stat_is_read_as_busy_and_total_jiffies(tmp_path: Path) -> None:
    # Given this machine's /proc/stat, Then busy never exceeds total and both grow
    first = read_cpu_times()
    assert first is not None and 0 < first[0] <= first[1]
    time.sleep(0.05)
    second = read_cpu_times()
    assert second is not None and second[1] >= first[1]
    # And a file that is not /proc/stat reads as unknown
    other = tmp_path / "stat"
    other.write_text("intr 1 2 3\n")
    assert read_cpu_times(other) is None
    assert read_cpu_times(tmp_path / "missing") is None
    # And /proc/meminfo's MemAvailable reads as MiB, below the total
    available = read_memory_available()
    total_kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
    assert available is not None and 0 < available <= total_kb / 1024
    other.write_text("MemTotal: 100 kB\n")
    assert read_memory_available(other) is None
    assert read_memory_available(tmp_path / "missing") is None
