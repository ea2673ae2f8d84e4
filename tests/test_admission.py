"""The admission gate: pages start while the CPUs have room, a few always run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from extractors.engine.admission import STEP, AdmissionGate, read_cpu_times


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
    # When the CPUs fall to 50% busy for a step, Then it may
    machine.busy = 50
    machine.advance(STEP)
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
