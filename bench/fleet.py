"""Fleet throughput and claim latency: 1 worker process against 2, in one run.

    .venv/bin/python bench/fleet.py [--pages N] [--threads T] [--singles S]

Starts its own throwaway PostgreSQL, Redis and local test site, then for each
configuration a fresh database, one fleet-mode `amber serve` and one
`amber worker --processes P --threads T`. Measures:

- throughput: N distinct /p/K pages added in one POST; captures per minute from
  the POST to the last one finished;
- claim latency under load: snapshot created_at -> claimed_at over that batch
  (mostly time spent waiting behind the backlog);
- pickup latency when idle: S single URLs added one at a time, each after the
  previous finished; created_at -> claimed_at (what a bookmarklet user waits).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from crawler import db  # noqa: E402
from crawler.clock import as_utc  # noqa: E402
from tests.conftest import ADMIN_TOKEN, amber_env  # noqa: E402
from tests.fleet_support import (  # noqa: E402
    AmberWorker,
    add_urls,
    alive_workers,
    all_terminal,
    wait_until,
)
from tests.services import AmberServer, PostgresServer, RedisServer  # noqa: E402
from tests.site import TestSite  # noqa: E402


@dataclass
class Run:
    processes: int
    threads: int
    pages: int
    seconds: float
    failed: int
    load_latency: list[float]
    idle_latency: list[float]

    @property
    def per_minute(self) -> float:
        return self.pages / self.seconds * 60


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def latencies(rows: dict[str, dict[str, object]]) -> list[float]:
    out = []
    for row in rows.values():
        created, claimed = as_utc(row["created_at"]), as_utc(row["claimed_at"])  # type: ignore[arg-type]
        if created and claimed:
            out.append((claimed - created).total_seconds())
    return out


def measure(
    *,
    processes: int,
    threads: int,
    pages: int,
    singles: int,
    site: TestSite,
    pg: PostgresServer,
    redis: RedisServer,
) -> Run:
    data_dir = Path(tempfile.mkdtemp(prefix=f"amber-bench-fleet-{processes}-"))
    redis.restart()  # an empty broker for each configuration
    env = amber_env(
        data_dir,
        AMBER_DATABASE_URL=pg.create_database(f"bench_fleet_{processes}"),
        AMBER_BROKER_URL=redis.url,
        AMBER_BLOB_URL=str(data_dir / "blobs"),
        AMBER_CAPTURE_TIMEOUT="30",
        AMBER_HEARTBEAT_SECONDS="1",
    )
    api = AmberServer(env=env).start()
    worker = AmberWorker(env, threads=threads, processes=processes).start()
    engine = db.make_engine(env["AMBER_DATABASE_URL"])
    client = httpx.Client(
        base_url=api.url, timeout=60, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    try:
        wait_until(
            lambda: len(alive_workers(engine)) >= processes, timeout=90, what="workers to boot"
        )
        # Warm every browser up (first page loads are slow) outside the measurement.
        warm = add_urls(client, [site.url(f"/p/warm{n}") for n in range(2 * processes * threads)])
        wait_until(lambda: all_terminal(engine, warm), timeout=180, what="warm-up")

        started = time.perf_counter()
        ids = add_urls(client, [site.url(f"/p/{n}") for n in range(1, pages + 1)])
        rows = wait_until(
            lambda: all_terminal(engine, ids), timeout=600, interval=0.05, what="the batch"
        )
        seconds = time.perf_counter() - started
        failed = sum(1 for r in rows.values() if r["status"] != "succeeded")

        idle: list[float] = []
        for n in range(singles):
            [single] = add_urls(client, [site.url(f"/p/single{n}")])
            done = wait_until(
                functools.partial(all_terminal, engine, [single]),
                timeout=120,
                interval=0.05,
                what="one",
            )
            idle.extend(latencies(done))
        return Run(processes, threads, pages, seconds, failed, latencies(rows), idle)
    finally:
        client.close()
        worker.stop(timeout=60)
        api.stop()
        engine.dispose()


def report(run: Run) -> None:
    print(
        f"{run.processes} process(es) x {run.threads} threads: {run.pages} pages in "
        f"{run.seconds:.1f}s = {run.per_minute:.1f} captures/min ({run.failed} failed)"
    )
    for label, values in (("under load", run.load_latency), ("idle", run.idle_latency)):
        print(
            f"    claim latency {label}: p50 {percentile(values, 0.5) * 1000:.0f} ms, "
            f"p95 {percentile(values, 0.95) * 1000:.0f} ms, mean "
            f"{statistics.fmean(values) * 1000:.0f} ms (n={len(values)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--singles", type=int, default=20)
    args = parser.parse_args()

    site = TestSite().start()
    pg = PostgresServer().start()
    redis = RedisServer().start()
    try:
        runs = [
            measure(
                processes=processes,
                threads=args.threads,
                pages=args.pages,
                singles=args.singles,
                site=site,
                pg=pg,
                redis=redis,
            )
            for processes in (1, 2)
        ]
    finally:
        redis.stop()
        pg.stop()
        site.stop()
    for run in runs:
        report(run)
    print(f"ratio 2 processes / 1 process: {runs[1].per_minute / runs[0].per_minute:.2f}x")


if __name__ == "__main__":
    main()
