"""Bookmarks imports that run in the background and report progress through a row.

The web UI saves the upload to the data dir and starts `run_import` in a thread;
the browser that uploaded it may close: the progress page (and its server-sent
events) reads the `ImportJob` row, so any tab can follow or come back to it.
A job whose row stopped moving (the server restarted mid-import) shows as
interrupted; batches it committed stay imported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from crawler.auth import Principal
from crawler.clock import utcnow
from crawler.errors import AmberError, NotFound
from crawler.importers import iter_entries
from crawler.importers.base import Source
from crawler.importers.writer import BulkWriter, ImportSummary, long_lived_objects_frozen
from crawler.models import ImportJob
from crawler.users import aware

log = logging.getLogger(__name__)

BATCH = 200  # small batches: progress moves and captures start early
REPORT_EVERY = 0.3  # seconds between progress writes
STALE_AFTER = timedelta(minutes=2)  # a running job not updated for this long was interrupted


def create_job(
    session: Session, principal: Principal, *, filename: str, total_bytes: int
) -> ImportJob:
    job = ImportJob(
        workspace_id=principal.default_workspace_id,
        user_id=principal.user_id,
        filename=filename[:300],
        total_bytes=total_bytes,
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, principal: Principal, job_id: str) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None or not (principal.is_admin or job.workspace_id in principal.workspace_ids):
        raise NotFound(f"Import {job_id!r} not found")
    if job.status == "running" and aware(job.updated_at) < utcnow() - STALE_AFTER:
        job.status = "interrupted"
    return job


def recent_jobs(session: Session, principal: Principal, limit: int = 10) -> list[ImportJob]:
    query = select(ImportJob).order_by(col(ImportJob.created_at).desc()).limit(limit)
    if not principal.is_admin:
        query = query.where(col(ImportJob.workspace_id).in_(principal.workspace_ids))
    return list(session.exec(query))


def _report(
    engine: Engine, job_id: str, source: Source, summary: ImportSummary, **extra: object
) -> None:
    with Session(engine) as session:
        job = session.get(ImportJob, job_id)
        if job is None:
            return
        job.read_bytes = source.bytes_read
        job.imported = summary.imported
        job.duplicates = summary.duplicates
        job.retried = summary.retried
        job.invalid = summary.invalid
        job.queued = summary.queued
        job.updated_at = utcnow()
        for key, value in extra.items():
            setattr(job, key, value)
        session.add(job)
        session.commit()


def run_import(
    engine: Engine,
    *,
    job_id: str,
    path: Path,
    principal: Principal,
    parser: str,
    tags: Sequence[str],
    update: bool,
    redeliver_after: float,
    dispatch: Callable[[Sequence[str]], None],
) -> None:
    """Parse and store the file at `path`, reporting into the job row; deletes the file."""
    summary = ImportSummary()
    try:
        with (
            long_lived_objects_frozen(),
            path.open("rb") as stream,
            Session(engine, expire_on_commit=False) as session,
        ):
            source = Source(stream, name=path.name)
            writer = BulkWriter(
                session,
                principal=principal,
                tags=tags,
                update=update,
                redeliver_after=redeliver_after,
                batch_size=BATCH,
                on_commit=lambda ids: dispatch(ids),
            )
            summary = writer.summary
            last = 0.0
            try:
                for item in iter_entries(source, parser):
                    writer.add(item)
                    if time.monotonic() - last > REPORT_EVERY:
                        _report(engine, job_id, source, summary)
                        last = time.monotonic()
            except BaseException:
                writer.abort()
                raise
            summary = writer.finish()
            note = "; ".join(str(p) for p in summary.problems[:5])
            _report(
                engine,
                job_id,
                source,
                summary,
                status="succeeded",
                message=note,
                finished_at=utcnow(),
            )
    except AmberError as exc:
        _fail(engine, job_id, exc.message)
    except Exception as exc:  # the thread must leave a reason behind, whatever went wrong
        log.exception("import %s failed", job_id)
        _fail(engine, job_id, f"{type(exc).__name__}: {exc}")
    finally:
        path.unlink(missing_ok=True)


def _fail(engine: Engine, job_id: str, message: str) -> None:
    with Session(engine) as session:
        job = session.get(ImportJob, job_id)
        if job is not None:
            job.status = "failed"
            job.message = message[:2000]
            job.finished_at = job.updated_at = utcnow()
            session.add(job)
            session.commit()
