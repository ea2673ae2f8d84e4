"""`amber worker`: one capturing process, or a parent supervising N of them.

A capturing process builds a `Node` (its own Chromium, M Dramatiq threads, a
reconciler) and runs until SIGTERM/SIGINT. Then Dramatiq's `Worker.stop` lets
running captures finish within the grace period, the shutdown middleware hands
back whatever did not, and the process exits 0. A second signal skips the wait.

With ``--processes N`` the parent starts N such processes, restarts any that
die (with backoff, so a crash loop does not spin), and forwards SIGTERM to all
of them on shutdown. One process per browser keeps a Chromium crash, a leak or
the GIL from taking down more than 1/N of a node's capacity.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

from crawler.settings import Settings

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
SUPERVISOR_ENV = "AMBER_SUPERVISOR_PID"  # tells a child whose death should stop it


def run_worker_process(
    settings: Settings, *, threads: int, grace: float, parent_pid: int | None = None
) -> int:
    """Capture until told to stop (or until the supervising parent is gone); the exit code."""
    from workers.embedded import build_node
    from workers.shutdown import release_unfinished

    node = build_node(settings, workers=True, reconcile=True, threads=threads)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            # Second signal: do not wait for captures; give their claims back and go.
            if node.runtime is not None:
                release_unfinished(node.runtime)
            os._exit(128 + signum)
        log.warning("signal %d: finishing running captures (up to %.0fs)", signum, grace)
        stop.set()

    for signum in STOP_SIGNALS:
        signal.signal(signum, on_signal)
    node.start()
    log.warning("worker %s capturing with %d thread(s)", _worker_id(node), threads)
    while not stop.wait(1.0):
        if parent_pid is not None and os.getppid() != parent_pid:
            log.warning("supervisor %d is gone; stopping", parent_pid)
            stop.set()
    node.stop(timeout=grace)
    log.warning("worker %s stopped", _worker_id(node))
    return 0


def _worker_id(node: object) -> str:
    runtime = getattr(node, "runtime", None)
    return str(getattr(runtime, "worker_id", "?"))


@dataclass
class _Slot:
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 1.0
    next_start: float = 0.0


@dataclass
class Supervisor:
    """Keeps `count` copies of `argv` running until a stop signal, then stops them all."""

    argv: Sequence[str]
    count: int
    grace: float
    min_uptime: float = 60.0
    max_backoff: float = 30.0
    slots: list[_Slot] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> int:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        self.slots = [_Slot() for _ in range(self.count)]
        while not self._stop.is_set():
            self._tend()
            self._stop.wait(0.5)
        return self._shutdown()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.warning("supervisor: signal %d, stopping %d worker process(es)", signum, self.count)
        self._stop.set()

    def _tend(self) -> None:
        now = time.monotonic()
        for index, slot in enumerate(self.slots):
            if slot.process is not None:
                code = slot.process.poll()
                if code is None:
                    continue
                ran = now - slot.started
                slot.backoff = (
                    1.0 if ran >= self.min_uptime else min(self.max_backoff, slot.backoff * 2)
                )
                slot.next_start = now + slot.backoff
                log.warning(
                    "worker process %d (pid %d) exited with %s after %.0fs; restarting in %.0fs",
                    index,
                    slot.process.pid,
                    code,
                    ran,
                    slot.backoff,
                )
                slot.process = None
            if now >= slot.next_start:
                # A process group of its own: a terminal's Ctrl-C reaches only the
                # supervisor, which then stops each child exactly once.
                slot.process = subprocess.Popen(
                    list(self.argv),
                    env={**os.environ, SUPERVISOR_ENV: str(os.getpid())},
                    process_group=0,
                )
                slot.started = now
                log.info("worker process %d started (pid %d)", index, slot.process.pid)

    def _shutdown(self) -> int:
        running = [s.process for s in self.slots if s.process is not None]
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace + 15
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop in time; killing it", process.pid)
                process.kill()
                process.wait()
        return 0
