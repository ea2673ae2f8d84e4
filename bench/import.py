"""Import rate and API latency at scale (a benchmark, not a test).

1. Generates a Netscape bookmarks file (default 100,000 bookmarks in folders,
   with tags, dates, 1% duplicates and 0.5% broken entries) and imports it into a
   fresh embedded store, printing URLs/s and peak memory (ru_maxrss of the
   importing process) against two baselines measured in the same run: parsing
   alone, and a bare executemany of the same rows into an index-free table.
2. Fills another store with 1,000,000 snapshots (bench/fill.py: bulk insert
   straight into the tables, search index included), serves it with `amber serve --no-workers`
   and prints p50/p95 latency of list and search requests over HTTP.

    .venv/bin/python bench/import.py [--bookmarks N] [--snapshots N] [--requests N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fill import ADMIN_TOKEN, TAGS, WORDS, fill, percentile  # noqa: E402


def generate(path: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write(
            "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n"
            '<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">\n'
            "<TITLE>Bookmarks</TITLE>\n<H1>Bookmarks</H1>\n<DL><p>\n"
        )
        per_folder = 500
        for start in range(0, count, per_folder):
            out.write(f'    <DT><H3 ADD_DATE="1600000000">Folder {start // per_folder}</H3>\n')
            out.write("    <DL><p>\n")
            for n in range(start, min(count, start + per_folder)):
                if n % 200 == 7:
                    out.write('        <DT><A HREF="javascript:void(0)">bookmarklet</A>\n')
                    continue
                target = n - 1 if n % 100 == 3 else n  # ~1% duplicates
                title = " ".join(rng.choice(WORDS) for _ in range(5))
                out.write(
                    f'        <DT><A HREF="https://site{target % 5000}.example.com/p/{target}'
                    f'?utm_source=feed&amp;id={target}" ADD_DATE="{1500000000 + n}" '
                    f'TAGS="{rng.choice(TAGS)}">{title}</A>\n'
                )
            out.write("    </DL><p>\n")
        out.write("</DL><p>\n")


def child(mode: str, file: str, data_dir: str) -> None:
    """Runs in its own process so ru_maxrss is this measurement's peak alone."""
    from crawler.importers import ParseProblem, Source, iter_entries

    started = time.perf_counter()
    count = 0
    if mode == "parse":
        with open(file, "rb") as stream:
            for _ in iter_entries(Source(stream)):
                count += 1
    elif mode == "executemany":
        rows = []
        with open(file, "rb") as stream:
            for item in iter_entries(Source(stream)):
                if not isinstance(item, ParseProblem):
                    rows.append((item.url, item.title, ",".join(item.tags)))
        started = time.perf_counter()  # the insert alone
        conn = sqlite3.connect(Path(data_dir) / "plain.sqlite3")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS plain (url TEXT, title TEXT, tags TEXT)")
        for start in range(0, len(rows), 5000):
            conn.executemany("INSERT INTO plain VALUES (?, ?, ?)", rows[start : start + 5000])
            conn.commit()
        count = len(rows)
    else:
        from sqlmodel import Session

        from crawler import db
        from crawler.auth import ensure_user, principal_for_user
        from crawler.importers.parallel import store_file
        from crawler.importers.writer import BulkWriter

        url = f"sqlite:///{Path(data_dir) / 'amber.sqlite3'}"
        db.upgrade(url)
        engine = db.make_engine(url)
        started = time.perf_counter()
        with Session(engine) as session:
            principal = principal_for_user(session, ensure_user(session, "bench", admin=True))
            session.commit()
            writer = BulkWriter(session, principal=principal, index_only=True)
            if mode == "import-1proc":
                with open(file, "rb") as stream:
                    writer.add_all(iter_entries(Source(stream)))
                summary = writer.finish()
            else:
                summary = store_file(writer, file, "auto")
        count = summary.seen
    elapsed = time.perf_counter() - started
    peak = (
        max(  # this process, or the parsing process it may have started
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024
    )
    print(json.dumps({"count": count, "seconds": elapsed, "peak_mb": peak}))


def measure(mode: str, file: Path, data_dir: Path) -> dict[str, float]:
    data_dir.mkdir(parents=True, exist_ok=True)
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(file), str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["cpu"] = (cpu_after.ru_utime - cpu_before.ru_utime) + (
        cpu_after.ru_stime - cpu_before.ru_stime
    )
    return result


def bench_import(bookmarks: int, work: Path) -> None:
    file = work / "bookmarks.html"
    started = time.perf_counter()
    generate(file, bookmarks)
    print(
        f"generated {bookmarks:,} bookmarks ({file.stat().st_size / 2**20:.1f} MB) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    print(f"{'step':<34}{'items':>9}{'seconds':>9}{'items/s':>10}{'peak MB':>9}{'cpu s':>7}")
    for label, mode in (
        ("baseline: parse only", "parse"),
        ("baseline: bare executemany", "executemany"),
        ("import, one process", "import-1proc"),
        ("import, parsing in a 2nd process", "import"),
    ):
        r = measure(mode, file, work / mode)
        rate = r["count"] / r["seconds"]
        print(
            f"{label:<34}{r['count']:>9,}{r['seconds']:>9.2f}{rate:>10,.0f}"
            f"{r['peak_mb']:>9.0f}{r['cpu']:>7.1f}"
        )
    env = {**os.environ, "AMBER_DATA_DIR": str(work / "cli")}
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "amber"), "import", str(file), "--index-only"],
        env=env,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - started
    print(
        f"`amber import --index-only` end to end (process start, migrations, import): "
        f"{wall:.2f} s = {bookmarks / wall:,.0f} URLs/s"
    )


def bench_latency(snapshots: int, requests: int, work: Path) -> None:
    import httpx

    from tests.services import AmberServer

    data_dir = work / "latency"
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    fill(data_dir / "amber.sqlite3", snapshots)
    print(f"\nfilled {snapshots:,} snapshots in {time.perf_counter() - started:.1f} s")
    env = {"AMBER_DATA_DIR": str(data_dir), "AMBER_ADMIN_TOKEN": ADMIN_TOKEN}
    server = AmberServer(env=env, args=("--no-workers",)).start(timeout=120)
    rng = random.Random(3)
    cases: dict[str, Callable[[], dict[str, Any]]] = {
        "list newest (limit 200)": lambda: {},
        "list newest (limit 50)": lambda: {"limit": 50},
        "list page 100 (limit 50)": lambda: {"limit": 50, "page": 100},
        "list status=failed": lambda: {"status": "failed", "limit": 50},
        "list tag=tagN": lambda: {"tag": rng.choice(TAGS), "limit": 50},
        "search one word": lambda: {"search": rng.choice(WORDS[:100]), "limit": 50},
        "search two words": lambda: {
            "search": f"{rng.choice(WORDS[:100])} {rng.choice(WORDS[:100])}",
            "limit": 50,
        },
        "search rare word": lambda: {"search": rng.choice(WORDS[100:]), "limit": 50},
        "search 3-letter prefix": lambda: {"search": rng.choice(WORDS)[:3], "limit": 50},
    }
    print(f"{'request':<28}{'p50 ms':>9}{'p95 ms':>9}{'items':>7}{'count':>10}")
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
        ) as client:
            for label, params in cases.items():
                for _ in range(5):  # warm caches and the connection
                    client.get("/api/v1/core/snapshots", params=params())
                times = []
                last: dict[str, object] = {}
                for _ in range(requests):
                    t = time.perf_counter()
                    response = client.get("/api/v1/core/snapshots", params=params())
                    times.append((time.perf_counter() - t) * 1000)
                    assert response.status_code == 200, response.text
                    last = response.json()
                print(
                    f"{label:<28}{percentile(times, 0.5):>9.1f}{percentile(times, 0.95):>9.1f}"
                    f"{last['num_items']:>7}{last['count']:>10,}"
                )
    finally:
        server.stop()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bookmarks", type=int, default=100_000)
    parser.add_argument("--snapshots", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="amber-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_import:
            bench_import(args.bookmarks, work)
        if not args.skip_latency:
            bench_latency(args.snapshots, args.requests, work)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
