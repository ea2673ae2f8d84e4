"""The web UI's list page at scale, and what its card thumbnails weigh (a benchmark, not a test).

1. Fills a store with 1,000,000 snapshots (bench/fill.py, shared with bench/import.py),
   serves it with `amber serve --no-workers`, signs in through the UI's own
   form and prints p50/p95 of the server-rendered list page over HTTP. The
   baseline, measured in the same run on the same store, is the JSON API's
   list call with the same filter and page size. Goal: p95 <= 100 ms.
2. Captures a few real pages from the test site with an embedded worker and
   prints the bytes per 50 cards: the thumbnails the card view loads (an
   output named `thumbnail.*`), against the full screenshots the cards would
   load without them. If this build makes no thumbnails, it says so and prints
   an estimate instead: the top of each screenshot shrunk by the thumbnail
   extractor's own code, as a card thumbnail is made. Goal: <= 50 KB per 50 cards.

    .venv/bin/python bench/ui.py [--snapshots N] [--requests N] [--pages N]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fill import ADMIN_TOKEN, TAGS, WORDS, fill, percentile  # noqa: E402

from tests.services import AmberServer  # noqa: E402
from tests.site import TestSite  # noqa: E402

ADMIN_PASSWORD = "bench-admin-password-0123"
CARDS = 50


def sign_in(base_url: str, token: str) -> httpx.Client:
    """A client signed in through the UI's form: a token today, or name and password."""
    client = httpx.Client(base_url=base_url, timeout=60)
    form = client.get("/login").text
    if 'name="token"' in form or "name='token'" in form:
        data = {"token": token}
    else:
        data = {"username": "admin", "password": ADMIN_PASSWORD}
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        if csrf:
            data["csrfmiddlewaretoken"] = csrf[1]
    done = client.post("/login", data={**data, "next": "/"})
    assert done.status_code == 303, done.text
    return client


def timed(call: Callable[[], httpx.Response], requests: int) -> tuple[list[float], httpx.Response]:
    for _ in range(5):  # warm caches and the connection
        call()
    times, last = [], None
    for _ in range(requests):
        started = time.perf_counter()
        last = call()
        times.append((time.perf_counter() - started) * 1000)
        assert last.status_code == 200, last.text[:500]
    assert last is not None
    return times, last


def bench_list(snapshots: int, requests: int, work: Path) -> None:
    data_dir = work / "list"
    data_dir.mkdir(parents=True)
    started = time.perf_counter()
    fill(data_dir / "amber.sqlite3", snapshots)
    print(f"filled {snapshots:,} snapshots in {time.perf_counter() - started:.1f} s")
    env = {
        "AMBER_DATA_DIR": str(data_dir),
        "AMBER_ADMIN_TOKEN": ADMIN_TOKEN,
        "AMBER_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    server = AmberServer(env=env, args=("--no-workers",)).start(timeout=120)
    rng = random.Random(5)
    cases: dict[str, Callable[[], dict[str, str]]] = {
        "newest": lambda: {},
        "tag=tagN": lambda: {"tag": rng.choice(TAGS)},
        "search one word": lambda: {"q": rng.choice(WORDS[:100])},
    }
    api_names = {"q": "search"}
    print(f"\n{'list request':<18}{'UI p50':>9}{'UI p95':>9}{'API p50':>9}{'API p95':>9}{'KB':>7}")
    ui = sign_in(server.url, ADMIN_TOKEN)
    api = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
    )
    try:
        with api:
            for label, params in cases.items():

                def page_call(p: Callable[[], dict[str, str]] = params) -> httpx.Response:
                    return ui.get("/", params=p())

                page_times, page = timed(page_call, requests)
                assert "/snapshot/" in page.text, "the list page shows no snapshots"

                def api_call(p: Callable[[], dict[str, str]] = params) -> httpx.Response:
                    query = {api_names.get(k, k): v for k, v in p().items()}
                    return api.get("/api/v1/core/snapshots", params={**query, "limit": CARDS})

                api_times, _ = timed(api_call, requests)
                print(
                    f"{label:<18}{percentile(page_times, 0.5):>9.1f}"
                    f"{percentile(page_times, 0.95):>9.1f}{percentile(api_times, 0.5):>9.1f}"
                    f"{percentile(api_times, 0.95):>9.1f}{len(page.content) / 1024:>7.0f}"
                )
    finally:
        ui.close()
        server.stop()
    print("(ms; UI = the server-rendered list page, API = GET /api/v1/core/snapshots, same filter)")


def _estimate(png: bytes) -> int:
    """A card thumbnail made by the UI's own extractor code (extractors.thumbnail.shrink)."""
    from extractors.thumbnail import shrink

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "thumbnail.webp"
        shrink(png, path)
        return path.stat().st_size


def bench_thumbnails(pages: int, work: Path) -> None:
    site = TestSite().start()
    data_dir = work / "thumbs"
    data_dir.mkdir(parents=True)
    env = {
        "AMBER_DATA_DIR": str(data_dir),
        "AMBER_ADMIN_TOKEN": ADMIN_TOKEN,
        "AMBER_ALLOWED_NETWORKS": "127.0.0.1/32",
        "AMBER_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    server = AmberServer(env=env).start(timeout=120)
    kinds = ["/page.html?b={}", "/scripts.html?b={}", "/p/{}", "/changing/b{}/page.html"]
    urls = [site.url(kinds[n % len(kinds)].format(n)) for n in range(pages)]
    try:
        with httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=60,
        ) as api:
            ids = api.post("/api/v1/cli/add", json={"urls": urls}).json()["snapshot_ids"]
            deadline = time.monotonic() + 60 + 20 * pages
            snaps: list[dict[str, Any]] = []
            while len(snaps) < len(ids):
                assert time.monotonic() < deadline, "captures did not finish"
                time.sleep(0.5)
                snaps = [
                    s
                    for s in (api.get(f"/api/v1/core/snapshot/{i}").json() for i in ids)
                    if s["status"] in ("succeeded", "failed")
                ]
            thumbs, shots, estimates = [], [], []
            for snap in snaps:
                files = [path for r in snap.get("archiveresults", []) for path in r["output_files"]]
                base = f"/archive/{snap['timestamp']}/"
                thumb = next((p for p in files if Path(p).stem == "thumbnail"), None)
                if thumb:
                    thumbs.append(len(api.get(base + thumb).content))
                if "screenshot.png" in files:
                    png = api.get(base + "screenshot.png").content
                    shots.append(len(png))
                    estimates.append(_estimate(png))
    finally:
        server.stop()
        site.stop()

    def per_cards(sizes: list[int]) -> str:
        return f"{sum(sizes) / len(sizes) * CARDS / 1024:8.1f} KB" if sizes else "     n/a"

    print(f"\nimages per {CARDS} cards ({len(snaps)} pages captured, mean size x {CARDS}):")
    print(f"  baseline: full screenshots {per_cards(shots)}")
    if thumbs:
        print(f"  thumbnails (this build)    {per_cards(thumbs)}")
    else:
        print("  thumbnails (this build)         none: no thumbnail output in this build")
        print(f"  estimate: extractor's WebP   {per_cards(estimates)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshots", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--skip-list", action="store_true")
    parser.add_argument("--skip-thumbnails", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="amber-bench-ui-") as tmp:
        if not args.skip_list:
            bench_list(args.snapshots, args.requests, Path(tmp))
        if not args.skip_thumbnails:
            bench_thumbnails(args.pages, Path(tmp))
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
