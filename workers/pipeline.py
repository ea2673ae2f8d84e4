"""One snapshot's capture: claim it, load the page once, store outputs, record results.

The claim is a conditional update (queued -> started with a lease), so a
duplicate message is a no-op. Results and the final status are written in one
transaction that first re-checks the claim, so a worker whose lease expired
(and whose snapshot someone else re-captured) writes nothing.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from crawler import changes, crawl_links, personas, search
from crawler import snapshot_states as states
from crawler.blobs import disk_full_is_storage_full
from crawler.clock import utcnow
from crawler.crawl_links import LinkPlan
from crawler.db import session_scope
from crawler.errors import AmberError, CaptureError
from crawler.models import ArchiveResult, ResultStatus, Snapshot, SnapshotStatus
from extractors.base import ExtractorOutput, Role
from extractors.engine.page import CaptureOutcome, CaptureRequest, SettleOptions
from extractors.registry import with_role
from workers.runtime import Runtime

log = logging.getLogger(__name__)

DONE = {ResultStatus.succeeded, ResultStatus.skipped}


class LostClaim(Exception):
    """Our lease expired and the snapshot moved on without us; write nothing."""


@dataclass(slots=True)
class PipelineResult:
    snapshot_id: str
    status: str
    reason: str | None = None
    retry_in: float | None = None
    children: list[str] = field(default_factory=list)  # crawl links to dispatch


Redeliver = Callable[[str, float], None]


def _claim(rt: Runtime, snapshot_id: str) -> tuple[Snapshot, tuple[str, ...]] | None:
    with session_scope(rt.engine) as session:
        if not states.claim(session, snapshot_id, worker_id=rt.worker_id, lease=rt.settings.lease):
            return None
        snapshot = session.get(Snapshot, snapshot_id)
        assert snapshot is not None
        done = {
            r.plugin
            for r in session.exec(
                select(ArchiveResult).where(col(ArchiveResult.snapshot_id) == snapshot_id)
            )
            if r.status in DONE
        }
        return snapshot, tuple(p for p in rt.browser.extractors if p not in done)


def _store_output(rt: Runtime, output: ExtractorOutput) -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = {}
    for item in output.files:
        ref = rt.blobs.put_file(item.local_path)
        files[item.archive_path] = {
            "sha256": ref.sha256,
            "size": ref.size,
            "mimetype": item.mimetype,
        }
    return files


def _existing_results(session: Session, snapshot_id: str) -> dict[str, ArchiveResult]:
    """The snapshot's results by plugin, read once: a query per plugin would flush the
    pending rows before each (autoflush), a round trip per output."""
    rows = session.exec(
        select(ArchiveResult).where(col(ArchiveResult.snapshot_id) == snapshot_id)
    ).all()
    return {row.plugin: row for row in rows}


def _upsert_result(
    session: Session,
    existing: dict[str, ArchiveResult],
    snapshot: Snapshot,
    plugin: str,
    *,
    status: ResultStatus,
    output: ExtractorOutput | None,
    files: dict[str, dict[str, Any]],
    error: str | None,
) -> None:
    result = existing.get(plugin)
    now = utcnow()
    if result is None:
        result = existing[plugin] = ArchiveResult(
            snapshot_id=snapshot.id,
            plugin=plugin,
            created_by_id=snapshot.created_by_id,
            created_at=now,
        )
    result.status = status
    result.modified_at = now
    result.retry_at = None
    result.output_files = files
    result.output_size = sum(int(f["size"]) for f in files.values())
    result.output_mimetypes = ",".join(sorted({str(f["mimetype"]) for f in files.values()}))
    result.sha256 = next(iter(files.values()))["sha256"] if files else None
    result.output_str = output.output_str if output else ""
    result.cmd_version = output.cmd_version if output else ""
    result.start_ts = output.start_ts if output else now
    result.end_ts = output.end_ts if output else now
    result.error = error
    session.add(result)


def _backoff(rt: Runtime, attempts: int) -> float:
    return float(min(300.0, rt.settings.retry_backoff * (2 ** max(0, attempts - 1))))


def _record_failure(
    rt: Runtime, snapshot: Snapshot, plugins: tuple[str, ...], exc: CaptureError
) -> PipelineResult:
    """The page itself could not be captured: retry transient failures, fail the rest."""
    retry = exc.transient and snapshot.attempts < rt.settings.max_attempts
    with session_scope(rt.engine) as session:
        if retry:
            delay = _backoff(rt, snapshot.attempts)
            if not states.retry_later(
                session, snapshot.id, worker_id=rt.worker_id, retry_in=delay, reason=exc.message
            ):
                raise LostClaim(snapshot.id)
            return PipelineResult(snapshot.id, "queued", exc.message, retry_in=delay)
        if not states.finish(
            session,
            snapshot.id,
            worker_id=rt.worker_id,
            status=SnapshotStatus.failed,
            title=None,
            error=exc.message,
        ):
            raise LostClaim(snapshot.id)
        existing = _existing_results(session, snapshot.id)
        for plugin in plugins:
            _upsert_result(
                session,
                existing,
                snapshot,
                plugin,
                status=ResultStatus.failed,
                output=None,
                files={},
                error=exc.message,
            )
    return PipelineResult(snapshot.id, "failed", exc.message)


def _served(rt: Runtime, outcome: CaptureOutcome, role: Role) -> ExtractorOutput | None:
    """The succeeded output of the extractor that serves `role`, if it ran this time."""
    name = with_role(rt.browser.extractors, role)
    output = outcome.outputs.get(name) if name else None
    return output if output is not None and output.status == "succeeded" else None


def _first_file(output: ExtractorOutput | None) -> Path | None:
    return output.files[0].local_path if output is not None and output.files else None


def _plan_links(rt: Runtime, snapshot: Snapshot, outcome: CaptureOutcome) -> LinkPlan | None:
    """A crawl page's links, read from the DOM it just captured (before the work dir goes).

    Planning never costs the capture itself: on error the page is kept, unfollowed.
    """
    if snapshot.crawl_id is None:
        return None
    try:
        return crawl_links.plan_links(
            rt.engine,
            snapshot=snapshot,
            final_url=outcome.final_url,
            dom_path=_first_file(_served(rt, outcome, Role.crawl_links)),
            links_from=with_role(rt.browser.extractors, Role.crawl_links),
            networks=rt.settings.networks,
            blobs=rt.blobs,
            redeliver_after=rt.settings.redeliver_seconds,
        )
    except Exception:  # noqa: BLE001
        log.exception("could not read the links of %s", snapshot.id)
        return None


def _record_outcome(rt: Runtime, snapshot: Snapshot, outcome: CaptureOutcome) -> PipelineResult:
    stored = {
        name: _store_output(rt, out)
        for name, out in outcome.outputs.items()
        if out.status == "succeeded"
    }
    failed = {name: out for name, out in outcome.outputs.items() if out.status == "failed"}
    retry = bool(failed) and snapshot.attempts < rt.settings.max_attempts
    reason = "; ".join(f"{name}: {out.error}" for name, out in failed.items()) or None
    titled = _served(rt, outcome, Role.page_title)
    title = titled.output_str if titled is not None else None
    links = None if retry else _plan_links(rt, snapshot, outcome)
    with session_scope(rt.engine) as session:
        if retry:
            delay = _backoff(rt, snapshot.attempts)
            claimed = states.retry_later(
                session, snapshot.id, worker_id=rt.worker_id, retry_in=delay, reason=reason
            )
            status, result = "queued", PipelineResult(snapshot.id, "queued", reason, delay)
        else:
            final = SnapshotStatus.failed if failed else SnapshotStatus.succeeded
            claimed = states.finish(
                session,
                snapshot.id,
                worker_id=rt.worker_id,
                status=final,
                title=title,
                error=reason,
            )
            status, result = final.value, PipelineResult(snapshot.id, final.value, reason)
        if not claimed:
            raise LostClaim(snapshot.id)
        result.children = crawl_links.follow_links(session, links)
        text = _first_file(_served(rt, outcome, Role.search_text))
        if text is not None:
            # Searchable in the same transaction that records the capture.
            search.index_text(session, snapshot.id, text.read_text("utf-8", errors="replace"))
        if title and retry:
            snap_row = session.get(Snapshot, snapshot.id)
            if snap_row is not None:
                snap_row.title = title
        existing = _existing_results(session, snapshot.id)
        for name, out in outcome.outputs.items():
            if out.status == "failed":
                result_status = ResultStatus.backoff if retry else ResultStatus.failed
            else:
                result_status = ResultStatus(out.status)
            _upsert_result(
                session,
                existing,
                snapshot,
                name,
                status=result_status,
                output=out,
                files=stored.get(name, {}),
                error=out.error,
            )
    log.info("snapshot %s %s (%s)", snapshot.id, status, outcome.final_url)
    return result


def _check_for_change(rt: Runtime, snapshot_id: str) -> None:
    """A schedule's re-capture: record a change alert if its text moved (delivered elsewhere).

    After the capture committed, and never able to undo it: any error is logged only.
    """
    try:
        changes.record_change(rt.engine, rt.blobs, snapshot_id, timeout=rt.settings.diff_timeout)
    except Exception:  # noqa: BLE001
        log.exception("could not compare %s with its previous capture", snapshot_id)


def _persona_state(rt: Runtime, snapshot: Snapshot) -> dict[str, Any] | None:
    """The decrypted login this capture runs with, if its snapshot has one (crawler.personas)."""
    with Session(rt.engine, expire_on_commit=False) as session:
        persona = personas.for_snapshot(session, snapshot)
    if persona is None:
        return None
    try:
        return personas.decrypt(persona, personas.cipher(rt.engine, rt.settings.persona_key))
    except AmberError as exc:
        raise CaptureError(exc.message) from exc


def run_capture(rt: Runtime, snapshot_id: str) -> PipelineResult:
    """Capture one snapshot if we can claim it; every outcome ends in the database."""
    claimed = _claim(rt, snapshot_id)
    if claimed is None:
        return PipelineResult(snapshot_id, "not-claimed")
    snapshot, plugins = claimed
    ident = threading.get_ident()
    with rt.lock:
        rt.current[ident] = snapshot_id
    scratch = rt.settings.data_dir / "tmp"
    workdir: Path | None = None
    started = time.monotonic()
    try:
        try:
            with disk_full_is_storage_full(scratch):
                scratch.mkdir(parents=True, exist_ok=True)
                workdir = Path(tempfile.mkdtemp(prefix="capture-", dir=scratch))
                outcome = rt.browser.capture(
                    CaptureRequest(
                        url=snapshot.url,
                        plugins=plugins,
                        workdir=workdir,
                        timeout=rt.settings.capture_timeout,
                        max_bytes=rt.settings.max_page_bytes,
                        allowed_networks=rt.settings.networks,
                        settle=SettleOptions(
                            minimum=rt.settings.settle_min,
                            quiet=rt.settings.settle_quiet,
                            maximum=rt.settings.settle_max,
                            scroll_pause=rt.settings.scroll_pause,
                            scroll_height=rt.settings.scroll_height,
                            load_more=rt.settings.load_more_clicks,
                            extra_bytes=rt.settings.extra_fetch_bytes,
                        ),
                        behaviours=rt.settings.behaviours,
                        behaviour_budget=rt.settings.behaviour_budget,
                        storage_state=_persona_state(rt, snapshot),
                    )
                )
            # The WARC spool and the blobs share the data disk: full while storing is
            # the same failure as full while spooling, and stored outputs stay intact.
            with disk_full_is_storage_full(rt.settings.data_dir):
                result = _record_outcome(rt, snapshot, outcome)
        except CaptureError as exc:
            rt.count("captures_failed")
            rt.count(f"failure:{type(exc).__name__}")
            return _record_failure(rt, snapshot, plugins, exc)
        rt.count("captures_succeeded" if result.status == "succeeded" else "captures_failed")
        if result.status == "succeeded" and snapshot.schedule_id:
            _check_for_change(rt, snapshot_id)
        return result
    except LostClaim:
        log.warning("lost the claim on %s; its results were discarded", snapshot_id)
        return PipelineResult(snapshot_id, "lost-claim")
    finally:
        rt.count("capture_seconds_total", int(time.monotonic() - started))
        with rt.lock:
            rt.current.pop(ident, None)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
