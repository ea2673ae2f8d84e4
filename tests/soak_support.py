"""A soak run: many pages from a generated local site through real `amber worker` processes.

Used by bench/soak.py (10,000 pages, numbers printed) and by the CI-sized test
(tens of pages, assertions). Everything runs on this machine: a generated site
on 127.0.0.1, throwaway Redis and PostgreSQL from tests/services.py, one
API-only `amber serve` to add URLs, and `amber worker --processes P`.

What is recorded while it runs, every `sample_every` seconds: pages finished,
and the memory of the worker processes (Python) and of the Chromium processes
below them: RSS, and PSS (shared pages split between the processes sharing
them; summed RSS counts Chromium's shared memory once per process). At the
end: every page's end state, the browser recycles and restarts each worker
reported, and which of the workers' processes were still alive after they had
been told to stop (orphans).
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import text
from sqlalchemy.engine import Engine

from crawler import db
from tests.conftest import ADMIN_TOKEN, amber_env
from tests.fleet_support import AmberWorker, alive_workers, wait_until
from tests.services import AmberServer, PostgresServer, RedisServer
from tests.site import make_png

REFUSED_EVERY = 97  # every 97th page redirects to a refused address: it must fail with a reason
REFUSED_TARGET = "http://10.255.255.1/"  # refused by the guard before any connection
CHROMIUM_NAMES = ("chrom", "headless_shell")
BATCH = 500


class SoakSite:
    """Generated pages /s/N: text of varying length, a per-page image, shared CSS and JS."""

    def __init__(self, *, refuse_every: int = REFUSED_EVERY) -> None:
        self.refuse_every = refuse_every
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> SoakSite:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.port}/s/{n}"

    @staticmethod
    def page(n: int) -> bytes:
        paragraphs = "".join(
            f"<p>Soak page {n}, paragraph {k}: " + "lorem ipsum dolor sit amet " * 20 + "</p>"
            for k in range(1 + n % 23)
        )
        links = "".join(f"<a href='/s/{n + k}'>next {k}</a> " for k in range(1, 4))
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>Soak {n}</title>"
            "<link rel='stylesheet' href='/style.css'><script src='/app.js'></script></head>"
            f"<body><h1>Soak page {n}</h1><img src='/img/{n}.png' width='64' height='64'>"
            f"{paragraphs}<nav>{links}</nav></body></html>"
        ).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        page, refuse_every = self.page, self.refuse_every

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, kind: str, **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                if path.startswith("/s/"):
                    n = int(path[3:] or 0)
                    if n % refuse_every == refuse_every - 1:
                        self._send(302, b"", "text/html", Location=REFUSED_TARGET)
                    else:
                        self._send(200, page(n), "text/html; charset=utf-8")
                elif path.startswith("/img/"):
                    n = int(path[5:].removesuffix(".png") or 0)
                    rgb = (n % 256, (n // 256) % 256, 128)
                    self._send(200, make_png(64, 64, rgb), "image/png")
                elif path == "/style.css":
                    self._send(200, b"body{font-family:serif;margin:2em}", "text/css")
                elif path == "/app.js":
                    self._send(200, b"document.title += ' (js)';", "text/javascript")
                else:
                    self._send(404, b"not found", "text/plain")

        return Handler


@dataclass
class Sample:
    at: float  # seconds since the batch was added
    done: int  # pages in a terminal state
    worker_rss_mb: float  # Python worker processes together
    chromium_rss_mb: float  # every Chromium process below them
    worker_pss_mb: float = 0.0
    chromium_pss_mb: float = 0.0


@dataclass
class SoakResult:
    pages: int
    seconds: float
    samples: list[Sample]
    states: Counter[str]
    reasons: Counter[str]
    pages_without_reason: list[str]
    finish_times: list[float]  # seconds since the batch was added, one per page, sorted
    recycles: int
    restarts: int
    orphans: list[str]
    stalled: bool
    end_states_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def decile_rates(self) -> list[float]:
        """Pages per minute within each tenth of the run (by pages finished)."""
        times = self.finish_times
        if len(times) < 10:
            return []
        rates, previous = [], 0.0
        for k in range(1, 11):
            start, end = (k - 1) * len(times) // 10, k * len(times) // 10
            until = times[end - 1]
            span = max(until - previous, 1e-6)
            rates.append((end - start) / span * 60)
            previous = until
        return rates


def tree_memory(root: psutil.Process) -> dict[str, float]:
    """RSS and PSS in MiB of `amber worker` and below it: Python processes, and Chromium."""
    totals = dict.fromkeys(
        ("worker_rss_mb", "chromium_rss_mb", "worker_pss_mb", "chromium_pss_mb"), 0.0
    )
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return totals
    for process in processes:
        with suppress(psutil.Error):
            name = process.name()
            if any(part in name for part in CHROMIUM_NAMES):
                kind = "chromium"
            elif name.startswith("python") or name == "amber":
                kind = "worker"
            else:
                continue
            memory = process.memory_full_info()
            totals[f"{kind}_rss_mb"] += memory.rss / (1024 * 1024)
            totals[f"{kind}_pss_mb"] += getattr(memory, "pss", memory.rss) / (1024 * 1024)
    return totals


def terminal_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM snapshot WHERE status IN ('succeeded', 'failed')")
            ).scalar_one()
        )


def worker_counters(engine: Engine) -> tuple[int, int]:
    """Browser recycles and restarts, summed over every worker's last heartbeat."""
    recycles = restarts = 0
    with engine.connect() as conn:
        for (stats,) in conn.execute(text("SELECT stats FROM fleet_worker")):
            data = stats if isinstance(stats, dict) else json.loads(stats or "{}")
            recycles += int(data.get("recycles", 0))
            restarts += int(data.get("restarts", 0))
    return recycles, restarts


@contextmanager
def soak_services() -> Iterator[tuple[PostgresServer, RedisServer]]:
    pg, redis = PostgresServer().start(), RedisServer().start()
    try:
        yield pg, redis
    finally:
        redis.stop()
        pg.stop()


def run_soak(
    *,
    pages: int,
    pg: PostgresServer,
    redis: RedisServer,
    processes: int = 2,
    threads: int = 2,
    recycle_pages: int = 500,
    recycle_mb: int = 2048,
    sample_every: float = 5.0,
    stall_after: float = 300.0,
    database: str = "soak",
    refuse_every: int = REFUSED_EVERY,
    progress: Any = None,
) -> SoakResult:
    """Add `pages` URLs at once, let the workers finish them, and record how it went."""
    site = SoakSite(refuse_every=refuse_every).start()
    data_dir = Path(tempfile.mkdtemp(prefix="amber-soak-"))
    env = amber_env(
        data_dir,
        AMBER_DATABASE_URL=pg.create_database(database),
        AMBER_BROKER_URL=redis.url,
        AMBER_CAPTURE_TIMEOUT="30",
        AMBER_HEARTBEAT_SECONDS="1",
        AMBER_BROWSER_RECYCLE_PAGES=str(recycle_pages),
        AMBER_BROWSER_RECYCLE_MB=str(recycle_mb),
    )
    api = AmberServer(env=env, args=("--no-workers",)).start(timeout=180)
    worker = AmberWorker(env, threads=threads, processes=processes).start()
    engine = db.make_engine(env["AMBER_DATABASE_URL"])
    client = httpx.Client(
        base_url=api.url, timeout=120, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    samples: list[Sample] = []
    stalled = False
    try:
        wait_until(
            lambda: len(alive_workers(engine)) >= processes, timeout=120, what="workers to boot"
        )
        root = psutil.Process(worker.pid)
        started, started_wall = time.monotonic(), time.time()
        for first in range(0, pages, BATCH):
            urls = [site.url(n) for n in range(first, min(first + BATCH, pages))]
            answer = client.post("/api/v1/cli/add", json={"urls": urls})
            assert answer.status_code == 200, answer.text
        last_progress, last_done = time.monotonic(), -1
        while True:
            done = terminal_count(engine)
            samples.append(Sample(time.monotonic() - started, done, **tree_memory(root)))
            if progress is not None:
                progress(samples[-1], pages)
            if done >= pages:
                break
            if done != last_done:
                last_progress, last_done = time.monotonic(), done
            elif time.monotonic() - last_progress > stall_after:
                stalled = True
                break
            time.sleep(sample_every)
        seconds = time.monotonic() - started
        time.sleep(2.5)  # one more heartbeat, so the counters below are the final ones
        recycles, restarts = worker_counters(engine)
        result = _collect(engine, data_dir, started_wall=started_wall)
        orphans = _stop_and_find_orphans(worker, root)
        return SoakResult(
            pages=pages,
            seconds=seconds,
            samples=samples,
            recycles=recycles,
            restarts=restarts,
            orphans=orphans,
            stalled=stalled,
            **result,
        )
    finally:
        client.close()
        worker.stop(timeout=60)
        api.stop()
        engine.dispose()
        site.stop()


def _collect(engine: Engine, data_dir: Path, *, started_wall: float) -> dict[str, Any]:
    """Every page's end state (also written as JSON lines) and when each finished."""
    states: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    without_reason: list[str] = []
    finish: list[float] = []
    path = data_dir / "end-states.jsonl"
    with engine.connect() as conn, path.open("w") as out:
        rows = conn.execute(
            text("SELECT url, status, last_error, modified_at FROM snapshot ORDER BY url")
        ).mappings()
        for row in rows:
            states[row["status"]] += 1
            error = row["last_error"] or ""
            if row["status"] == "failed":
                reasons[error[:200]] += 1
                if not error.strip():
                    without_reason.append(row["url"])
            if row["status"] in ("succeeded", "failed") and row["modified_at"] is not None:
                finish.append(row["modified_at"].timestamp() - started_wall)
            out.write(json.dumps({"url": row["url"], "status": row["status"], "error": error}))
            out.write("\n")
    return {
        "states": states,
        "reasons": reasons,
        "pages_without_reason": without_reason,
        "finish_times": sorted(finish),
        "end_states_path": path,
    }


def _stop_and_find_orphans(worker: AmberWorker, root: psutil.Process) -> list[str]:
    """SIGTERM the workers, wait for them to exit, then list what of theirs still runs.

    Everything the workers started lives in their session; anything left in it
    once they have exited is an orphan (AmberWorker.stop would reap it, hiding it).
    """
    session = os.getsid(worker.pid)
    worker.signal(signal.SIGTERM)
    worker.wait(timeout=120)
    time.sleep(1.0)  # let Chromium's children notice their parent went away
    left = []
    for process in psutil.process_iter(["pid", "name"]):
        with suppress(psutil.Error, ProcessLookupError):
            ours = process.pid != root.pid and os.getsid(process.pid) == session
            if ours and process.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{process.pid} {process.info['name']}")
    return left
