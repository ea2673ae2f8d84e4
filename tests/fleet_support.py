"""Helpers for fleet tests and bench/fleet.py: `amber worker` subprocesses and store probes."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.services import REPO, VENV_BIN

T = TypeVar("T")

TERMINAL = ("succeeded", "failed", "sealed")


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, interval: float = 0.1, what: str = ""
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what or probe}")
        time.sleep(interval)


@dataclass
class AmberWorker:
    """`amber worker` as a real subprocess, in its own session so its Chromium can be reaped."""

    env: dict[str, str]
    threads: int = 2
    processes: int = 1
    args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    started_wall: float = field(default=0.0)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> AmberWorker:
        data_dir = Path(self.env.get("AMBER_DATA_DIR", tempfile.mkdtemp(prefix="amber-wk-")))
        data_dir.mkdir(parents=True, exist_ok=True)
        self.started_wall = time.time()
        argv = [str(VENV_BIN / "amber"), "worker", "--threads", str(self.threads)]
        argv += ["--processes", str(self.processes), "--verbose", *self.args]
        self.process = subprocess.Popen(
            argv,
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=self._log(data_dir).open("ab"),
            cwd=REPO,
            start_new_session=True,
        )
        return self

    def _log(self, data_dir: Path) -> Path:
        self.log_path = data_dir / f"worker-{time.monotonic_ns()}.log"
        return self.log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path else ""

    def signal(self, signum: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signum)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, then make sure nothing of its session (Chromium included) is left."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process = None


def alive_workers(
    engine: Engine, *, since: float = 0.0, within: float = 3.0
) -> list[dict[str, Any]]:
    """Rows of the worker table that beat recently (as the fleet sees itself)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, pid, last_heartbeat, stopped_at, done, failed FROM fleet_worker")
        ).mappings()
        found = []
        for row in rows:
            beat = row["last_heartbeat"]
            beat_ts = (beat if beat.tzinfo else beat.replace(tzinfo=UTC)).timestamp()
            if row["stopped_at"] is None and beat_ts >= max(since, time.time() - within):
                found.append(dict(row))
        return found


def snapshot_rows(engine: Engine, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    marks = ", ".join(f":i{n}" for n in range(len(ids)))
    params = {f"i{n}": sid for n, sid in enumerate(ids)}
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, status, attempts, worker_id, last_error, retry_at, created_at, "
                f"claimed_at, downloaded_at FROM snapshot WHERE id IN ({marks})"
            ),
            params,
        ).mappings()
        return {row["id"]: dict(row) for row in rows}


def results_by_snapshot(engine: Engine, ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """(plugin, status) of every ArchiveResult row, per snapshot."""
    out: dict[str, list[tuple[str, str]]] = {sid: [] for sid in ids}
    with engine.connect() as conn:
        for sid, plugin, status in conn.execute(
            text("SELECT snapshot_id, plugin, status FROM archiveresult")
        ):
            if sid in out:
                out[sid].append((plugin, status))
    return out


def all_terminal(engine: Engine, ids: Sequence[str]) -> dict[str, dict[str, Any]] | None:
    rows = snapshot_rows(engine, ids)
    if len(rows) == len(ids) and all(r["status"] in TERMINAL for r in rows.values()):
        return rows
    return None


def add_urls(client: httpx.Client, urls: Sequence[str]) -> list[str]:
    answer = client.post("/api/v1/cli/add", json={"urls": list(urls)})
    assert answer.status_code == 200, answer.text
    ids: list[str] = answer.json()["snapshot_ids"]
    return ids
