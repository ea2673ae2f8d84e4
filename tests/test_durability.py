"""Staying up for long: Chromium killed mid-capture, browser recycling, a full disk,
`amber fsck` / `amber gc`, and a CI-sized soak on two worker processes.

The disk-full test mounts a small tmpfs as the data dir (root only; skipped
where mounting is not permitted). The database lives outside it, as it would on
a real deployment with a separate volume, so the failure can be recorded.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sqlmodel import Session

from crawler import blob_check, db
from crawler import snapshots as snaps
from crawler.auth import ensure_user, principal_for_user
from crawler.blobs import LocalBlobStore
from crawler.db import open_store
from crawler.models import Snapshot
from crawler.settings import load_settings
from extractors.engine.browser import BrowserService
from extractors.engine.page import CaptureRequest
from extractors.registry import EXTRACTORS
from tests.services import PostgresServer, RedisServer
from tests.site import SiteHandler, TestSite
from tests.soak_support import run_soak
from workers.pipeline import run_capture
from workers.runtime import Runtime

LOOPBACK = load_settings(allowed_networks="127.0.0.1/32").networks


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserService]:
    service = BrowserService(
        executable_path=load_settings().chromium_executable(),
        extractors=EXTRACTORS,
        recycle_pages=3,
    )
    yield service
    service.stop()


def capture(browser: BrowserService, url: str, workdir: Path) -> str:
    outcome = browser.capture(
        CaptureRequest(
            url=url,
            plugins=("title",),
            workdir=workdir,
            timeout=30,
            max_bytes=50_000_000,
            allowed_networks=LOOPBACK,
        )
    )
    return outcome.outputs["title"].output_str


def alive(pids: list[int]) -> list[int]:
    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


def test_chromium_killed_mid_capture_is_retried_and_browsers_are_recycled(
    browser: BrowserService, site: TestSite, tmp_path: Path
) -> None:
    # Given a page that holds its first request until Chromium has been killed
    arrived, release = threading.Event(), threading.Event()
    requests: list[int] = []

    def held(handler: SiteHandler) -> None:
        requests.append(1)
        if len(requests) == 1:
            arrived.set()
            release.wait(timeout=20)
        handler.send(200, b"<title>Survivor</title><p>made it</p>", "text/html")

    site.extra_routes["/held-for-kill"] = held
    restarts = browser.restarts
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["title"] = capture(browser, site.url("/held-for-kill"), tmp_path / "a")
        except Exception as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    assert arrived.wait(timeout=60), "the page was never requested"
    # When Chromium's browser process is SIGKILLed while the page is loading
    browser.kill_browser()
    release.set()
    worker.join(timeout=120)
    # Then the capture is retried on a relaunched browser and succeeds
    assert result.get("title") == "Survivor", result
    assert len(requests) == 2 and browser.restarts == restarts + 1

    # Given browsers are recycled every 3 captures
    launches, recycles = browser.launches, browser.recycles
    before = browser.process_ids()
    # When more captures than that run
    titles = [capture(browser, site.url("/final.html"), tmp_path / f"r{n}") for n in range(4)]
    # Then a fresh browser was launched, and the old one's processes are gone
    assert titles == ["Final Destination"] * 4
    assert browser.recycles >= recycles + 1 and browser.launches >= launches + 1
    assert before and not alive(before), "the recycled Chromium left processes behind"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs, mounted for this test only."""
    mount = tmp_path / "data"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write until the disk is full, to the last byte; return the filler, to remove later."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (1 << 20, 65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_full_disk_fails_clearly_and_fsck_gc_keep_the_store_whole(
    browser: BrowserService, site: TestSite, small_disk: Path, tmp_path: Path
) -> None:
    settings = load_settings(
        data_dir=small_disk,
        database_url=f"sqlite:///{tmp_path / 'amber.sqlite3'}",
        allowed_networks="127.0.0.1/32",
        capture_timeout=30,
        max_attempts=1,
    )
    engine, blobs = open_store(settings)
    rt = Runtime(settings=settings, engine=engine, blobs=blobs, browser=browser)

    def add(url: str) -> str:
        with db.session_scope(engine) as session:
            principal = principal_for_user(session, ensure_user(session, "disk"))
            outcome = snaps.add_urls(
                session, principal=principal, entries=[snaps.UrlEntry(url=url)]
            )
        return outcome.queued_ids[0]

    def row(snapshot_id: str) -> Snapshot:
        with Session(engine) as session:
            found = session.get(Snapshot, snapshot_id)
            assert found is not None
            return found

    try:
        # Given one page captured and stored
        kept = add(site.url("/page.html"))
        assert run_capture(rt, kept).status == "succeeded"
        stored_before = blob_check.stored_hashes(blobs)
        assert stored_before
        # When the data disk fills up and another page is captured
        filler = fill(small_disk)
        victim = add(site.url("/p/disk-full"))
        outcome = run_capture(rt, victim)
        # Then the capture fails with a clear reason
        assert outcome.status == "failed", outcome
        failed = row(victim)
        assert failed.status == "failed"
        assert "no space left on the data disk" in (failed.last_error or ""), failed.last_error
        # And nothing already stored is damaged, and no half-written blob is left
        report = blob_check.fsck(engine, blobs, stored=blob_check.stored_hashes(blobs))
        assert report.corrupt == [] and report.missing == []
        assert set(stored_before).isdisjoint(report.orphaned)  # still named by their rows
        assert set(stored_before) <= set(blob_check.stored_hashes(blobs))
        assert isinstance(blobs, LocalBlobStore)
        assert list((blobs.root / "tmp").iterdir()) == []
        assert row(kept).status == "succeeded"

        # When space is freed, the kept snapshot deleted, and gc runs
        filler.unlink()
        with db.session_scope(engine) as session:
            snapshot = session.get(Snapshot, kept)
            assert snapshot is not None
            snaps.delete_snapshot(session, snapshot)
        recent = blob_check.gc(engine, blobs, stored=blob_check.stored_hashes(blobs))
        # Then blobs younger than the grace period are spared
        assert recent.freed == [] and recent.spared_recent >= len(stored_before)
        freed = blob_check.gc(
            engine, blobs, stored=blob_check.stored_hashes(blobs), grace_seconds=0
        )
        # And with no grace, the deleted snapshot's blobs are freed and fsck is clean
        assert set(stored_before) <= set(freed.freed) and freed.freed_bytes > 0
        after = blob_check.fsck(engine, blobs, stored=blob_check.stored_hashes(blobs))
        assert after.ok and after.orphaned == [] and after.checked == 0
    finally:
        engine.dispose()


def test_ci_sized_soak(postgres_server: PostgresServer, redis_server: RedisServer) -> None:
    # Given 150 generated pages (every 10th redirects to a refused address), two worker
    # processes with 6 pages in flight each, and browsers recycled every 25 captures
    pages = 150
    result = run_soak(
        pages=pages,
        pg=postgres_server,
        redis=redis_server,
        processes=2,
        threads=6,
        recycle_pages=25,
        refuse_every=10,
        sample_every=1.0,
        stall_after=120,
        database="soak_ci",
    )
    # Then every page ended succeeded, or failed with a reason
    assert not result.stalled
    assert sum(result.states.values()) == pages
    assert set(result.states) <= {"succeeded", "failed"}
    assert result.states["failed"] == pages // 10 and result.pages_without_reason == []
    assert all("not globally routable" in r or "private" in r for r in result.reasons), (
        result.reasons
    )
    # And browsers were recycled, none crashed, and nothing was left running after stop
    assert result.recycles >= 2 and result.restarts == 0
    assert result.orphans == []
    # And memory was sampled along the way
    assert result.samples and max(s.chromium_rss_mb for s in result.samples) > 0
