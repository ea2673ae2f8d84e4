"""Capture throughput: Amber's full pipeline against a bare Playwright loop, in one run.

    .venv/bin/python bench/capture.py [--pages N] [--threads T] [--switches]

The floor is a bare loop over the same local pages: a fresh context per page,
load, `content()`, full-page screenshot and PDF, writing nothing, on Chromium
launched the way the project brief says (BARE_FLAGS: the seven switches it
needs on a closed network, nothing else), in the browser captures run in
(`Settings.chromium_executable`: Chromium's headless shell where installed, which
is also what Playwright runs headless by default; the same loop in the full
browser's headless mode prints beside it). The same loop on Amber's own tuned
switches (CHROMIUM_FLAGS) is printed beside it, so what the switches bring shows. Amber does all
that plus the WARC (CDP recording), favicon, headers, readable text, blobs and
database rows, and it waits for each page to settle (issue 16: at least
AMBER_SETTLE_MIN after load, then a quiet window). Amber is measured one capture
at a time (like the floor), with its default worker threads (how `amber serve`
runs: pages in flight per browser, so one page's settle overlaps the others'
work), again with that many threads but no minimum settle and a 50 ms quiet
window (what the settle costs), and with the page behaviours (consent banners,
per-site hooks) turned off, so their cost shows. Goal: Amber >= 0.8x the floor's
pages/s.

``--switches`` also runs the floor once per candidate Chromium switch (each on
its own, added to Amber's flags) and prints each one's pages/s beside the
floor's, to find the switches worth keeping.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.async_api import async_playwright  # noqa: E402

from crawler import db  # noqa: E402
from crawler import snapshots as snaps  # noqa: E402
from crawler.auth import ensure_user, principal_for_user  # noqa: E402
from crawler.settings import load_settings  # noqa: E402
from extractors.engine.browser import BRIEF_FLAGS, CHROMIUM_FLAGS  # noqa: E402
from tests.site import TestSite  # noqa: E402


def corpus(site: TestSite, count: int, tag: str) -> list[str]:
    """Half rich pages (JS fetch, CSS, images, lazy image, iframe), half small pages."""
    urls = []
    for i in range(count):
        path = f"/page.html?bench={tag}{i}" if i % 2 == 0 else f"/p/{tag}{i}"
        urls.append(site.url(path))
    return urls


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used by process `root` and all its descendants, the exited ones included.

    Exited renderers are counted through their parents' cumulative child times, so
    this is what the browser cost, however busy the rest of the machine is.
    """
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = sum(int(v) for v in fields[11:15]) / tick
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


# Chromium as the brief launches it on a closed network: a bare Playwright user's switches.
BARE_FLAGS = BRIEF_FLAGS


async def bare_loop(
    urls: list[str],
    executable: str | None,
    extra: tuple[str, ...] = (),
    cpu: list[float] | None = None,
    flags: tuple[str, ...] = CHROMIUM_FLAGS,
) -> float:
    """Wall seconds of the loop; appends the browser's CPU seconds for it to `cpu` if given."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=[*flags, *extra]
        )
        session = await browser.new_browser_cdp_session()
        info = await session.send("SystemInfo.getProcessInfo")
        root = next(int(p["id"]) for p in info["processInfo"] if p["type"] == "browser")
        cpu_before = tree_cpu_seconds(root)
        started = time.perf_counter()
        for url in urls:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            page = await context.new_page()
            await page.goto(url, wait_until="load")
            await page.content()
            await page.screenshot(full_page=True)
            await page.pdf()
            await context.close()
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.5)  # let the last renderer exit and be counted
        if cpu is not None:
            cpu.append(tree_cpu_seconds(root) - cpu_before)
        await browser.close()
    return elapsed


CANDIDATE_SWITCHES = (
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-ipc-flooding-protection",
    "--disable-extensions",
    "--disable-smooth-scrolling",
    "--disable-lcd-text",
    "--renderer-process-limit=4",
    "--disable-back-forward-cache",
    "--blink-settings=primaryHoverType=2,primaryPointerType=4",
    "--in-process-gpu",
    "--disable-gpu-compositing",
    "--disable-software-rasterizer",
)


def amber_pipeline(
    urls: list[str], threads: int, behaviours: bool = True, **overrides: object
) -> tuple[float, int]:
    """Full pipeline through the embedded node (Dramatiq stub broker + worker threads)."""
    from workers.embedded import build_node

    data_dir = Path(tempfile.mkdtemp(prefix="amber-bench-"))
    settings = load_settings(
        data_dir=data_dir,
        allowed_networks="127.0.0.1/32",
        worker_threads=threads,
        behaviours=behaviours,
        **overrides,
    )
    node = build_node(settings, reconcile=False)
    node.start()
    try:
        # Warm the browser outside the timed region, as the floor's launch is untimed.
        assert node.runtime is not None
        node.runtime.browser.start()
        with db.session_scope(node.engine) as session:
            principal = principal_for_user(session, ensure_user(session, "bench"))
            outcome = snaps.add_urls(
                session, principal=principal, entries=[snaps.UrlEntry(url=u) for u in urls]
            )
        started = time.perf_counter()
        node.dispatch(outcome.queued_ids)
        from sqlmodel import Session, func, select

        from crawler.models import Snapshot

        # Polled with one plain statement on one connection, 20 times a second: an ORM
        # session per poll, 50 times a second, held the GIL for a third of the run and
        # slowed the pipeline it was timing.
        with node.engine.connect() as conn:
            while True:
                done = conn.exec_driver_sql(
                    "SELECT count(*) FROM snapshot WHERE status IN ('succeeded', 'failed')"
                ).scalar_one()
                conn.rollback()
                if done >= len(urls):
                    break
                time.sleep(0.05)
        elapsed = time.perf_counter() - started
        with Session(node.engine) as session:
            ok = session.exec(
                select(func.count()).select_from(Snapshot).where(Snapshot.status == "succeeded")
            ).one()
        return elapsed, int(ok)
    finally:
        node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--threads", type=int, default=load_settings().worker_threads)
    parser.add_argument("--switches", action="store_true", help="measure candidate switches")
    args = parser.parse_args()
    switches: dict[str, tuple[float, float]] = {}
    site = TestSite().start()
    executable = load_settings().chromium_executable()
    try:
        warmup = corpus(site, 2, "warm")
        asyncio.run(bare_loop(warmup, executable))
        floor_s = asyncio.run(
            bare_loop(corpus(site, args.pages, "floor"), executable, flags=BARE_FLAGS)
        )
        tuned_s = asyncio.run(bare_loop(corpus(site, args.pages, "tuned"), executable))
        # The same bare loop in the full browser's headless mode (what the floor ran on
        # before captures moved to the headless shell), when that is another binary.
        full = load_settings().headed_chromium_executable()
        full_s = (
            asyncio.run(bare_loop(corpus(site, args.pages, "full"), full, flags=BARE_FLAGS))
            if full and full != executable
            else None
        )
        seq_s, seq_ok = amber_pipeline(corpus(site, args.pages, "seq"), threads=1)
        par_s, par_ok = amber_pipeline(corpus(site, args.pages, "par"), threads=args.threads)
        quick_s, quick_ok = amber_pipeline(
            corpus(site, args.pages, "quick"),
            threads=args.threads,
            settle_min=0.0,
            settle_quiet=0.05,
            scroll_pause=0.05,
        )
        bare_s, bare_ok = amber_pipeline(
            corpus(site, args.pages, "nobeh"), threads=args.threads, behaviours=False
        )
        if args.switches:
            for switch in ("", *CANDIDATE_SWITCHES, ""):
                cpu: list[float] = []
                urls = corpus(site, args.pages, f"sw{len(switches)}")
                wall = asyncio.run(bare_loop(urls, executable, (switch,) if switch else (), cpu))
                switches[switch or f"(none, run {len(switches) + 1})"] = (wall, cpu[0])
    finally:
        site.stop()
    floor = args.pages / floor_s
    seq = args.pages / seq_s
    par = args.pages / par_s
    quick = args.pages / quick_s
    settings = load_settings()
    print(f"pages: {args.pages} (half rich pages, half small pages), local test site")
    tuned = args.pages / tuned_s
    print(f"browser: {executable}")
    print(f"bare Playwright loop (floor) : {floor:6.2f} pages/s  ({floor_s:.2f} s)")
    if full_s is not None:
        print(
            f"  same in {full} : {args.pages / full_s:6.2f} pages/s  ({full_s:.2f} s)"
            f"  ratio {args.pages / full_s / floor:.2f}x"
        )
    print(
        f"  same on Amber's switches    : {tuned:6.2f} pages/s  ({tuned_s:.2f} s)"
        f"  ratio {tuned / floor:.2f}x"
    )
    print(
        f"Amber pipeline, 1 thread     : {seq:6.2f} pages/s  ({seq_s:.2f} s, {seq_ok} ok)"
        f"  ratio {seq / floor:.2f}x"
    )
    print(
        f"Amber pipeline, {args.threads} threads    : {par:6.2f} pages/s  ({par_s:.2f} s, "
        f"{par_ok} ok)  ratio {par / floor:.2f}x"
    )
    print(
        f"  same, no settle minimum      : {quick:6.2f} pages/s  ({quick_s:.2f} s, "
        f"{quick_ok} ok)  ratio {quick / floor:.2f}x"
    )
    print(
        f"settle: min {settings.settle_min:g} s, quiet {settings.settle_quiet:g} s, "
        f"max {settings.settle_max:g} s, scroll pause {settings.scroll_pause:g} s"
    )
    nobeh = args.pages / bare_s
    print(
        f"  same, behaviours off       : {nobeh:6.2f} pages/s  ({bare_s:.2f} s, {bare_ok} ok)"
        f"  ratio {nobeh / floor:.2f}x; behaviours cost {(1 - par / nobeh) * 100:.0f}%"
    )
    print("goal: Amber >= 0.80x the floor")
    if switches:
        print("floor with one switch added: wall pages/s, and Chromium CPU ms per page")
    for switch, (seconds, cpu_s) in switches.items():
        rate = args.pages / seconds
        per_page = cpu_s / args.pages * 1000
        print(f"  {switch:58s}: {rate:6.2f} pages/s  {per_page:6.0f} CPU ms/page")


if __name__ == "__main__":
    main()
