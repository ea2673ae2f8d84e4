"""Crawls: seed URLs, then the links their captured DOMs hold, breadth by depth.

A crawl's snapshots carry ``crawl_id`` and ``depth``. Every in-scope URL a
crawl meets gets one `CrawlUrl` row (keyed by the hash of its normalised
form): that is the within-crawl dedup and the tally of what was skipped and
why. Following the links of a finished page is `crawler.crawl_links`.

Crawl states: queued -> started (a snapshot finished) -> sealed (nothing left
to do, or sealed by hand, which seals its queued snapshots too).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, exists, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from crawler import personas
from crawler import snapshot_states as states
from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.clock import utcnow
from crawler.crawl_rules import clean_config, seed_urls
from crawler.errors import InvalidInput, NotFound
from crawler.models import Crawl, CrawlUrl, Snapshot, SnapshotStatus
from crawler.urls import normalize_url

log = logging.getLogger(__name__)

MAX_DEPTH = 10
ACTIVE = (SnapshotStatus.queued, SnapshotStatus.started)


class CrawlStatus(StrEnum):
    queued = "queued"
    started = "started"
    sealed = "sealed"


class Verdict(StrEnum):
    queued = "queued"
    excluded = "excluded"  # include/exclude rules
    robots = "robots"  # robots.txt disallows it
    refused = "refused"  # the fetch allow-list refuses its address
    limit = "limit"  # max_urls or max_size reached


def url_key(normalized: str) -> str:
    """Fixed-length key: PostgreSQL cannot index arbitrarily long URLs."""
    return hashlib.sha256(normalized.encode()).hexdigest()


def owner(crawl: Crawl) -> Principal:
    """Snapshots a crawl discovers belong to whoever created the crawl."""
    return Principal(
        user_id=crawl.created_by_id,
        username="",
        is_admin=False,
        workspace_ids=(crawl.workspace_id,),
    )


def _insert_ignore(session: Session, row: dict[str, Any]) -> bool:
    """Insert a CrawlUrl unless the crawl already has it; True when this call inserted it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # RETURNING, not rowcount: psycopg reports -1 for INSERT .. ON CONFLICT through SQLAlchemy.
    table = CrawlUrl.__table__  # type: ignore[attr-defined]
    statement = insert(table).values(**row).on_conflict_do_nothing().returning(table.c.url_key)
    return session.connection().execute(statement).first() is not None


def record_url(
    session: Session, crawl_id: str, url: str, *, depth: int, verdict: str, sid: str | None = None
) -> bool:
    return _insert_ignore(
        session,
        {
            "crawl_id": crawl_id,
            "url_key": url_key(normalize_url(url)),
            "url": url,
            "depth": depth,
            "verdict": verdict,
            "snapshot_id": sid,
            "created_at": utcnow(),
        },
    )


def create_crawl(
    session: Session,
    *,
    principal: Principal,
    urls: str | Sequence[str],
    max_depth: int = 0,
    max_urls: int = 0,
    max_size: int = 0,
    tags_str: str = "",
    label: str = "",
    notes: str = "",
    config: dict[str, Any] | None = None,
    redeliver_after: float = 300.0,
    workspace_id: str | None = None,
) -> tuple[Crawl, snaps.AddOutcome]:
    """Store a crawl and a fresh snapshot of each seed; the caller dispatches after commit."""
    if not 0 <= max_depth <= MAX_DEPTH:
        raise InvalidInput(f"max_depth must be between 0 and {MAX_DEPTH}")
    if max_urls < 0 or max_size < 0:
        raise InvalidInput("max_urls and max_size must be 0 (no limit) or more")
    seeds = seed_urls(urls)
    if max_urls and len(seeds) > max_urls:
        raise InvalidInput(f"{len(seeds)} seed URLs exceed max_urls={max_urls}")
    tags = snaps.parse_tags(tags_str)
    now = utcnow()
    workspace = workspace_id or principal.default_workspace_id
    config = clean_config(config)
    persona = config.get("persona") or ""
    if not isinstance(persona, str):
        raise InvalidInput("config.persona must be a persona's name")
    persona_id = personas.named_id(session, workspace_id=workspace, name=persona)
    crawl = Crawl(
        workspace_id=workspace,
        created_by_id=principal.user_id,
        created_at=now,
        modified_at=now,
        status=CrawlStatus.queued,
        urls="\n".join(seeds),
        max_depth=max_depth,
        max_urls=max_urls,
        max_size=max_size,
        tags_str=",".join(tags),
        label=label,
        notes=notes,
        config=config,
    )
    session.add(crawl)
    session.flush()
    outcome = snaps.add_urls(
        session,
        principal=principal,
        entries=[snaps.UrlEntry(url=u) for u in seeds],
        tags=tags,
        depth=0,
        crawl_id=crawl.id,
        update=True,
        redeliver_after=redeliver_after,
        workspace_id=crawl.workspace_id,
        persona_id=persona_id,
    )
    for url, snapshot_id in zip(seeds, outcome.snapshot_ids, strict=True):
        record_url(session, crawl.id, url, depth=0, verdict=Verdict.queued, sid=snapshot_id)
    return crawl, outcome


def get_crawl(session: Session, principal: Principal, crawl_id: str) -> Crawl:
    """Another tenant's crawl is simply not found."""
    crawl = session.get(Crawl, crawl_id) if crawl_id and len(crawl_id) <= 64 else None
    if crawl is None or not principal.can_read(crawl.workspace_id):
        raise NotFound(f"Crawl {crawl_id!r} not found")
    return crawl


def crawl_snapshot_ids(session: Session, crawl_id: str) -> list[str]:
    return list(
        session.exec(
            select(Snapshot.id).where(Snapshot.crawl_id == crawl_id).order_by(col(Snapshot.id))
        )
    )


def skipped_counts(session: Session, crawl_id: str) -> dict[str, int]:
    rows = session.exec(
        select(CrawlUrl.verdict, func.count())
        .where(CrawlUrl.crawl_id == crawl_id, CrawlUrl.verdict != Verdict.queued)
        .group_by(CrawlUrl.verdict)
    )
    counts = {v.value: 0 for v in Verdict if v != Verdict.queued}
    counts.update({str(v): int(n) for v, n in rows})
    return counts


def seal_crawl(session: Session, crawl: Crawl) -> int:
    """Seal by hand: queued snapshots are sealed too (cancelled); returns how many."""
    now = utcnow()
    crawl.status = CrawlStatus.sealed
    crawl.retry_at = None
    crawl.modified_at = now
    session.add(crawl)
    session.flush()
    return states.cancel(session, crawl_id=crawl.id)


def delete_crawl(session: Session, crawl: Crawl) -> int:
    """Delete the crawl with its snapshots (their results and tags go with them)."""
    deleted = 0
    for snapshot in session.exec(select(Snapshot).where(Snapshot.crawl_id == crawl.id)).all():
        deleted += snaps.delete_snapshot(session, snapshot)
    session.flush()
    session.exec(delete(CrawlUrl).where(col(CrawlUrl.crawl_id) == crawl.id))  # type: ignore[call-overload]
    session.delete(crawl)
    return deleted


def _unfinished(crawl_id: Any) -> Any:
    return exists(
        select(Snapshot.id).where(
            col(Snapshot.crawl_id) == crawl_id, col(Snapshot.status).in_(list(ACTIVE))
        )
    )


def seal_if_done(session: Session, crawl_id: str) -> bool:
    """Seal the crawl when none of its snapshots is queued or started (conditional update)."""
    result = session.exec(  # type: ignore[call-overload]
        update(Crawl)
        .where(
            col(Crawl.id) == crawl_id,
            col(Crawl.status) != CrawlStatus.sealed,
            ~_unfinished(crawl_id),
        )
        .values(status=CrawlStatus.sealed, retry_at=None, modified_at=utcnow())
    )
    return bool(result.rowcount == 1)


def seal_finished(engine: Engine) -> int:
    """Periodic: seal every open crawl whose snapshots are all done (safe on many nodes)."""
    from crawler.db import session_scope

    with session_scope(engine) as session:
        result = session.exec(  # type: ignore[call-overload]
            update(Crawl)
            .where(col(Crawl.status) != CrawlStatus.sealed, ~_unfinished(Crawl.id))
            .values(status=CrawlStatus.sealed, retry_at=None, modified_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)
