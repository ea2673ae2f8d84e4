"""Replay speed: time until a replayed page has loaded, and TimeGate lookups at scale.

    .venv/bin/python bench/replay.py [--pages 20] [--snapshots 1000000] [--requests 200]

1. Captures `--pages` local pages with `amber serve`, stops the site, then opens
   each capture in Chromium through Amber's frame (`/web/<ts>/<url>`, what a
   reader clicks) and times it until the load event, which waits for the replay
   iframe. Baseline, same run, same WARCs, same browser: pywb 2.x (`.pywb-venv`)
   in its default framed replay. Both are measured cold (first view) and warm.
2. Fills a store with `--snapshots` snapshots (bench/fill.py), gives
   10,000 URLs five captures each with a WARC result, and times TimeGate
   requests (`/web/<url>` with Accept-Datetime) over HTTP. Baseline, same run:
   the snapshot list's newest page (`limit=1`). Goal: TimeGate p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from fill import ADMIN_TOKEN, fill, percentile  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from crawler.settings import load_settings  # noqa: E402
from extractors.engine.browser import CHROMIUM_FLAGS  # noqa: E402
from tests.services import AmberServer, pywb_collection, pywb_installed  # noqa: E402
from tests.site import TestSite  # noqa: E402

TOKEN = "bench-replay-token-0123456789"


def row(label: str, values: list[float]) -> str:
    return f"{label:<34}{percentile(values, 0.5):>9.0f}{percentile(values, 0.95):>9.0f}"


def capture(pages: int, work: Path) -> tuple[AmberServer, list[dict], TestSite]:
    site = TestSite().start()
    env = {
        "AMBER_DATA_DIR": str(work / "amber"),
        "AMBER_ADMIN_TOKEN": TOKEN,
        "AMBER_ALLOWED_NETWORKS": "127.0.0.1/32",
    }
    server = AmberServer(env=env).start(timeout=120)
    paths = [
        f"/page.html?replay={i}" if i % 3 == 0 else f"/p/replay{i}" if i % 3 == 1 else f"/?r={i}"
        for i in range(pages)
    ]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        answer = api.post(
            "/api/v1/cli/add",
            json={"urls": [site.url(p) for p in paths], "update": True},
            timeout=60,
        ).json()
        done: list[dict] = []
        for snapshot_id in answer["snapshot_ids"]:
            while True:
                body = api.get(
                    f"/api/v1/core/snapshot/{snapshot_id}?with_archiveresults=true"
                ).json()
                if body["status"] in ("succeeded", "failed"):
                    break
                time.sleep(0.3)
            if body["status"] == "succeeded":
                done.append(body)
    return server, done, site


def warc_paths(server: AmberServer, snapshots: list[dict], work: Path) -> list[Path]:
    """Each capture's WARC, downloaded the way a user would."""
    out = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for snapshot in snapshots:
        answer = httpx.get(
            f"{server.url}/archive/{snapshot['timestamp']}/warc/capture.warc.gz", headers=headers
        )
        answer.raise_for_status()
        path = work / f"{snapshot['id']}.warc.gz"
        path.write_bytes(answer.content)
        out.append(path)
    return out


def time_loads(urls: list[str], *, sign_in: str | None = None) -> list[float]:
    """Milliseconds to the load event of each URL, in one fresh browser context."""
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=load_settings().chromium_executable(), args=list(CHROMIUM_FLAGS)
        )
        context = browser.new_context()
        page = context.new_page()
        if sign_in:
            page.goto(f"{sign_in}/login")
            page.fill("input[name=token]", TOKEN)
            page.click("button")
            page.wait_for_url(f"{sign_in}/")
        for url in urls:
            started = time.perf_counter()
            page.goto(url, wait_until="load", timeout=60_000)
            times.append((time.perf_counter() - started) * 1000)
        browser.close()
    return times


def bench_replay(pages: int, work: Path) -> None:
    server, snapshots, site = capture(pages, work)
    site.stop()  # everything below comes from the archive
    print(f"captured {len(snapshots)} of {pages} pages; site stopped")
    pywb: contextlib.AbstractContextManager[str] | None = None
    if pywb_installed():
        (work / "pywb").mkdir()
        pywb = pywb_collection(work / "pywb", "bench", warc_paths(server, snapshots, work))
    else:
        print("pywb is not installed (.pywb-venv): no baseline")
    try:
        with pywb or contextlib.nullcontext() as pywb_base:
            stamp = "{:%Y%m%d%H%M%S}"
            amber_urls, pywb_urls = [], []
            for snapshot in snapshots:
                when = datetime.fromisoformat(snapshot["created_at"].replace("Z", "+00:00"))
                ts = stamp.format(when.astimezone(UTC))
                amber_urls.append(f"{server.url}/web/{ts}/{snapshot['url']}")
                if pywb_base:
                    pywb_urls.append(f"{pywb_base}/{ts}/{snapshot['url']}")
            print(f"\n{'replay, time to load (ms)':<34}{'p50':>9}{'p95':>9}")
            amber_cold = time_loads(amber_urls, sign_in=server.url)
            amber_warm = time_loads(amber_urls, sign_in=server.url)
            print(row("Amber (frame + replay origin), cold", amber_cold))
            print(row("Amber, warm", amber_warm))
            if pywb_urls:
                print(row("pywb (framed replay), cold", time_loads(pywb_urls)))
                print(row("pywb, warm", time_loads(pywb_urls)))
    finally:
        server.stop()


def add_captures(db_path: Path, urls: int, per_url: int) -> list[str]:
    """Give `urls` URLs `per_url` succeeded captures each, with a WARC result row."""
    conn = sqlite3.connect(db_path)
    user_id, workspace_id = conn.execute(
        "SELECT m.user_id, m.workspace_id FROM membership m JOIN user u ON u.id = m.user_id "
        "WHERE u.username = 'admin'"
    ).fetchone()
    columns = [r[1] for r in conn.execute("PRAGMA table_info(snapshot)")]
    insert = f"INSERT INTO snapshot ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    result_columns = [r[1] for r in conn.execute("PRAGMA table_info(archiveresult)")]
    insert_result = (
        f"INSERT INTO archiveresult ({', '.join(result_columns)}) "
        f"VALUES ({', '.join('?' * len(result_columns))})"
    )
    chosen = []
    rows, results = [], []
    for u in range(urls):
        url = f"https://timegate{u}.example.org/page"
        chosen.append(url)
        for c in range(per_url):
            n = u * per_url + c
            created = f"20{10 + c}-0{1 + u % 9}-15 12:00:00.000000"
            sid = f"tg{n:08d}-0000-7000-8000-000000000000"
            values = {
                "id": sid,
                "workspace_id": workspace_id,
                "created_by_id": user_id,
                "created_at": created,
                "modified_at": created,
                "bookmarked_at": created,
                "claimed_at": created,
                "status": "succeeded",
                "url": url,
                "normalized_url": url,
                "title": f"timegate {u}",
                "timestamp": f"17{n:08d}.000000",
                "depth": 0,
                "attempts": 1,
            }
            rows.append(tuple(values.get(col) for col in columns))
            result = {
                "id": f"tr{n:08d}-0000-7000-8000-000000000000",
                "snapshot_id": sid,
                "created_by_id": user_id,
                "created_at": created,
                "modified_at": created,
                "status": "succeeded",
                "plugin": "warc",
                "cmd_version": "",
                "output_str": "",
                "output_files": json.dumps(
                    {"warc/capture.warc.gz": {"sha256": "0", "mimetype": "application/warc"}}
                ),
                "output_size": 0,
                "output_mimetypes": "application/warc",
            }
            results.append(tuple(result.get(col) for col in result_columns))
    conn.executemany(insert, rows)
    conn.executemany(insert_result, results)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return chosen


def bench_timegate(snapshots: int, requests: int, work: Path) -> None:
    data_dir = work / "timegate"
    data_dir.mkdir()
    started = time.perf_counter()
    fill(data_dir / "amber.sqlite3", snapshots)
    urls = add_captures(data_dir / "amber.sqlite3", 10_000, 5)
    print(
        f"\nfilled {snapshots:,} snapshots + 50,000 captures "
        f"in {time.perf_counter() - started:.0f} s"
    )
    env = {"AMBER_DATA_DIR": str(data_dir), "AMBER_ADMIN_TOKEN": ADMIN_TOKEN}
    server = AmberServer(env=env, args=("--no-workers",)).start(timeout=120)
    rng = random.Random(5)
    headers = {"Authorization": f"Bearer {env['AMBER_ADMIN_TOKEN']}"}
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:

            def timed(call) -> list[float]:  # type: ignore[no-untyped-def]
                for _ in range(5):
                    call()
                out = []
                for _ in range(requests):
                    t = time.perf_counter()
                    call()
                    out.append((time.perf_counter() - t) * 1000)
                return out

            def baseline() -> None:
                assert client.get("/api/v1/core/snapshots", params={"limit": 1}).status_code == 200

            def timegate() -> None:
                when = datetime(2010 + rng.randrange(6), 6, 1, tzinfo=UTC)
                answer = client.get(
                    f"/web/{rng.choice(urls)}",
                    headers={"Accept-Datetime": format_datetime(when, usegmt=True)},
                    follow_redirects=False,
                )
                assert answer.status_code == 302, answer.text
                assert re.search(r"/web/\d{14}/", answer.headers["location"])

            def timemap() -> None:
                assert client.get(f"/web/timemap/link/{rng.choice(urls)}").status_code == 200

            print(f"{'at ' + format(snapshots, ',') + ' snapshots (ms)':<34}{'p50':>9}{'p95':>9}")
            print(row("baseline: list newest, limit=1", timed(baseline)))
            print(row("TimeGate with Accept-Datetime", timed(timegate)))
            print(row("TimeMap (link format)", timed(timemap)))
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--snapshots", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--skip-replay", action="store_true")
    parser.add_argument("--skip-timegate", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="amber-bench-replay-") as tmp:
        if not args.skip_replay:
            bench_replay(args.pages, Path(tmp))
        if not args.skip_timegate:
            bench_timegate(args.snapshots, args.requests, Path(tmp))


if __name__ == "__main__":
    main()
