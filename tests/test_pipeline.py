"""The capture pipeline against a real store, real blobs and real Chromium.

A fault is injected into one extractor (the only mock here) to prove the
others still succeed and that the failed one is retried alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from crawler import db
from crawler import snapshot_states as states
from crawler import snapshots as snaps
from crawler.auth import ensure_user, principal_for_user
from crawler.db import open_store
from crawler.models import ArchiveResult, Snapshot
from crawler.settings import Settings, load_settings
from extractors.base import ExtractorOutput
from extractors.engine.browser import BrowserService
from extractors.engine.page import LoadedPage
from extractors.registry import EXTRACTORS
from extractors.screenshot import ScreenshotExtractor
from extractors.title import TitleExtractor
from tests.services import QUICK_SETTLE_SETTINGS
from tests.site import TestSite
from workers.pipeline import run_capture
from workers.runtime import Runtime


class FlakyScreenshot(ScreenshotExtractor):
    """Fails the first `failures` times, then behaves like the real screenshot extractor."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError("injected screenshot failure")
        return await super().extract(page)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings: Settings = load_settings(
        data_dir=tmp_path,
        allowed_networks="127.0.0.1/32",
        capture_timeout=15,
        max_attempts=2,
        **QUICK_SETTLE_SETTINGS,
    )
    engine, blobs = open_store(settings)
    browser = BrowserService(executable_path=settings.chromium_executable(), extractors=EXTRACTORS)
    rt = Runtime(settings=settings, engine=engine, blobs=blobs, browser=browser)
    yield rt
    browser.stop()
    engine.dispose()


def add(rt: Runtime, url: str) -> str:
    with db.session_scope(rt.engine) as session:
        principal = principal_for_user(session, ensure_user(session, "tester"))
        outcome = snaps.add_urls(session, principal=principal, entries=[snaps.UrlEntry(url=url)])
    return outcome.queued_ids[0]


def results(rt: Runtime, snapshot_id: str) -> dict[str, ArchiveResult]:
    with Session(rt.engine) as session:
        rows = session.exec(
            select(ArchiveResult).where(col(ArchiveResult.snapshot_id) == snapshot_id)
        ).all()
    return {r.plugin: r for r in rows}


def snapshot(rt: Runtime, snapshot_id: str) -> Snapshot:
    with Session(rt.engine) as session:
        row = session.get(Snapshot, snapshot_id)
        assert row is not None
        return row


def test_failed_extractor_is_retried_alone(runtime: Runtime, site: TestSite) -> None:
    # Given a screenshot extractor that fails once
    flaky = FlakyScreenshot(failures=1)
    runtime.browser.extractors = EXTRACTORS.replacing(flaky)
    snapshot_id = add(runtime, site.url("/page.html"))
    # When the snapshot is captured
    first = run_capture(runtime, snapshot_id)
    # Then the others succeed, the screenshot is in backoff and the snapshot is queued again
    assert first.status == "queued" and first.retry_in is not None
    after_first = results(runtime, snapshot_id)
    assert after_first["screenshot"].status == "backoff"
    assert "injected screenshot failure" in (after_first["screenshot"].error or "")
    assert all(r.status == "succeeded" for p, r in after_first.items() if p != "screenshot")
    assert snapshot(runtime, snapshot_id).status == "queued"
    # When it is captured again
    second = run_capture(runtime, snapshot_id)
    # Then only the screenshot ran, and the earlier results were not redone
    assert second.status == "succeeded"
    after_second = results(runtime, snapshot_id)
    assert after_second["screenshot"].status == "succeeded"
    assert after_second["screenshot"].output_files["screenshot.png"]["size"] > 0
    for plugin in ("warc", "dom", "pdf", "title"):
        assert after_second[plugin].modified_at == after_first[plugin].modified_at
    final = snapshot(runtime, snapshot_id)
    assert final.status == "succeeded" and final.title == "Amber Rich Page"
    assert final.downloaded_at is not None


def test_extractor_that_keeps_failing_fails_the_snapshot_with_reason(
    runtime: Runtime, site: TestSite
) -> None:
    runtime.browser.extractors = EXTRACTORS.replacing(FlakyScreenshot(failures=99))
    snapshot_id = add(runtime, site.url("/final.html"))
    run_capture(runtime, snapshot_id)
    outcome = run_capture(runtime, snapshot_id)
    # Then after max_attempts (2) the snapshot is failed and says why; the rest were kept
    assert outcome.status == "failed"
    row = snapshot(runtime, snapshot_id)
    assert row.status == "failed" and "screenshot" in (row.last_error or "")
    rows = results(runtime, snapshot_id)
    assert rows["screenshot"].status == "failed"
    assert rows["warc"].status == "succeeded"


def test_outputs_are_content_addressed_blobs(runtime: Runtime, site: TestSite) -> None:
    runtime.browser.extractors = EXTRACTORS
    first = add(runtime, site.url("/final.html"))
    run_capture(runtime, first)
    row = results(runtime, first)["favicon"]
    assert row.status == "skipped"
    headers = results(runtime, first)["headers"]
    meta = headers.output_files["headers.json"]
    # The stored blob is named by its sha256 and holds the bytes
    data = runtime.blobs.read(meta["sha256"])
    import hashlib

    assert hashlib.sha256(data).hexdigest() == meta["sha256"] == headers.sha256
    assert len(data) == meta["size"] == headers.output_size


def test_second_claim_is_a_no_op(runtime: Runtime, site: TestSite) -> None:
    runtime.browser.extractors = EXTRACTORS
    snapshot_id = add(runtime, site.url("/final.html"))
    with db.session_scope(runtime.engine) as session:
        assert states.claim(session, snapshot_id, worker_id="a", lease=60)
    with db.session_scope(runtime.engine) as session:
        assert not states.claim(session, snapshot_id, worker_id="b", lease=60)
    # A worker that did not win the claim captures nothing
    assert run_capture(runtime, snapshot_id).status == "not-claimed"
    assert results(runtime, snapshot_id) == {}


def test_sealed_during_capture_discards_results(runtime: Runtime, site: TestSite) -> None:
    # Given a capture in flight whose snapshot gets sealed before it finishes
    runtime.browser.extractors = EXTRACTORS
    snapshot_id = add(runtime, site.url("/final.html"))

    class SealingTitle(TitleExtractor):
        async def extract(self, page: LoadedPage) -> ExtractorOutput:
            with db.session_scope(runtime.engine) as session:
                states.seal(session, [snapshot_id])
            return await super().extract(page)

    runtime.browser.extractors = EXTRACTORS.replacing(SealingTitle())
    outcome = run_capture(runtime, snapshot_id)
    # Then nothing is written and the snapshot stays sealed
    assert outcome.status == "lost-claim"
    assert results(runtime, snapshot_id) == {}
    assert snapshot(runtime, snapshot_id).status == "sealed"


def test_page_load_failure_records_reason_on_every_result(runtime: Runtime, site: TestSite) -> None:
    runtime.browser.extractors = EXTRACTORS
    snapshot_id = add(runtime, site.url("/loop"))
    outcome = run_capture(runtime, snapshot_id)
    assert outcome.status == "failed"
    row = snapshot(runtime, snapshot_id)
    assert row.status == "failed" and "redirect" in (row.last_error or "")
    rows = results(runtime, snapshot_id)
    assert len(rows) == len(EXTRACTORS) and all(r.status == "failed" for r in rows.values())
