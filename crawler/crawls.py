"""Crawls: seed URLs, then the links their captured DOMs hold, breadth by depth.

A crawl's snapshots carry ``crawl_id`` and ``depth``. When a capture of one of
them finishes, the worker plans the links to follow *outside* any transaction
(reading the DOM and robots.txt is I/O), then `follow_links` records them in
the same transaction that finishes the parent, so a crawl never loses or
double-queues a link. Every in-scope URL a crawl meets gets one `CrawlUrl` row
(keyed by the hash of its normalised form): that is the within-crawl dedup and
the tally of what was skipped and why.

Crawl states: queued -> started (a snapshot finished) -> sealed (nothing left
to do, or sealed by hand, which seals its queued snapshots too).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Text, case, delete, exists, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from crawler import snapshot_states as states
from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.blobs import BlobStore
from crawler.clock import utcnow
from crawler.crawl_rules import CrawlRules, clean_config, extract_links, seed_urls
from crawler.errors import FetchRefused, InvalidInput, NotFound
from crawler.models import ArchiveResult, Crawl, Snapshot, SnapshotStatus
from crawler.robots import ROBOTS, RobotsCache
from crawler.urls import Network, check_fetch_allowed, normalize_url

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


class CrawlUrl(SQLModel, table=True):
    """One in-scope URL a crawl met, and what became of it."""

    crawl_id: str = Field(primary_key=True, foreign_key="crawl.id", max_length=64)
    url_key: str = Field(primary_key=True, max_length=64)
    url: str = Field(sa_type=Text)
    depth: int = 0
    verdict: str = Field(max_length=20)
    snapshot_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


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


def _record(
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
    crawl = Crawl(
        workspace_id=workspace_id or principal.default_workspace_id,
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
        config=clean_config(config),
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
    )
    for url, snapshot_id in zip(seeds, outcome.snapshot_ids, strict=True):
        _record(session, crawl.id, url, depth=0, verdict=Verdict.queued, sid=snapshot_id)
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


@dataclass(slots=True)
class LinkPlan:
    """What a finished crawl page leads to, decided before the finishing transaction."""

    crawl_id: str
    depth: int
    candidates: list[tuple[str, str]] = field(default_factory=list)  # (url, verdict)
    redeliver_after: float = 300.0


def _dom_bytes(
    session: Session,
    snapshot_id: str,
    dom_path: Path | None,
    blobs: BlobStore | None,
    links_from: str | None,
) -> bytes:
    """The DOM this capture wrote, or (when only other extractors were retried) the stored one.

    `links_from` is the plugin whose stored output holds that DOM.
    """
    if dom_path is not None and dom_path.exists():
        return dom_path.read_bytes()
    if blobs is None or links_from is None:
        return b""
    result = session.exec(
        select(ArchiveResult).where(
            ArchiveResult.snapshot_id == snapshot_id,
            ArchiveResult.plugin == links_from,
            ArchiveResult.status == "succeeded",
        )
    ).first()
    sha = result.sha256 if result else None
    return blobs.read(sha) if sha and blobs.exists(sha) else b""


def _known(session: Session, crawl_id: str, keys: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        known.update(
            session.exec(
                select(CrawlUrl.url_key).where(
                    CrawlUrl.crawl_id == crawl_id, col(CrawlUrl.url_key).in_(chunk)
                )
            )
        )
    return known


def _verdict(
    url: str, rules: CrawlRules, crawl_id: str, networks: tuple[Network, ...], robots: RobotsCache
) -> str:
    if not rules.wanted(url):
        return Verdict.excluded
    try:
        check_fetch_allowed(url, networks)
    except FetchRefused:
        return Verdict.refused
    if not rules.ignore_robots and not robots.allowed(url, crawl_id=crawl_id, networks=networks):
        return Verdict.robots
    return Verdict.queued


def plan_links(
    engine: Engine,
    *,
    snapshot: Snapshot,
    final_url: str,
    dom_path: Path | None,
    networks: tuple[Network, ...],
    links_from: str | None = None,
    blobs: BlobStore | None = None,
    redeliver_after: float = 300.0,
    robots: RobotsCache = ROBOTS,
) -> LinkPlan | None:
    """Read links from the captured DOM and judge each; None when not part of a crawl."""
    if snapshot.crawl_id is None:
        return None
    with Session(engine) as session:
        crawl = session.get(Crawl, snapshot.crawl_id)
        if crawl is None:
            return None
        plan = LinkPlan(crawl.id, snapshot.depth, redeliver_after=redeliver_after)
        if crawl.status == CrawlStatus.sealed or snapshot.depth >= crawl.max_depth:
            return plan
        rules = CrawlRules.build(crawl.urls.split(), crawl.config)
        html = _dom_bytes(session, snapshot.id, dom_path, blobs, links_from)
        links = [u for u in extract_links(html, final_url or snapshot.url) if u]
        scoped = {url_key(normalize_url(u)): u for u in links if rules.in_scope(normalize_url(u))}
        known = _known(session, crawl.id, list(scoped))
    for key, url in scoped.items():
        if key not in known:
            plan.candidates.append((url, _verdict(url, rules, crawl.id, networks, robots)))
    return plan


def _budget(session: Session, crawl: Crawl) -> int:
    """How many more snapshots the crawl may queue (a big number when unlimited)."""
    budget = 1 << 30
    if crawl.max_urls:
        have = session.exec(
            select(func.count()).select_from(Snapshot).where(Snapshot.crawl_id == crawl.id)
        ).one()
        budget = crawl.max_urls - int(have)
    if crawl.max_size:
        size = session.exec(
            select(func.coalesce(func.sum(ArchiveResult.output_size), 0))
            .join(Snapshot, col(Snapshot.id) == col(ArchiveResult.snapshot_id))
            .where(Snapshot.crawl_id == crawl.id)
        ).one()
        if int(size) >= crawl.max_size:
            budget = 0
    return budget


def follow_links(session: Session, plan: LinkPlan | None) -> list[str]:
    """In the parent's finishing transaction: queue its new links, seal the crawl when done.

    Touching the crawl row first serialises concurrent finishers of one crawl
    (a row lock on PostgreSQL, the write lock on SQLite), so ``max_urls`` holds.
    Returns the snapshot ids to dispatch after commit.
    """
    if plan is None:
        return []
    touched = session.exec(  # type: ignore[call-overload]
        update(Crawl)
        .where(col(Crawl.id) == plan.crawl_id, col(Crawl.status) != CrawlStatus.sealed)
        .values(
            status=case(
                (col(Crawl.status) == CrawlStatus.queued, CrawlStatus.started.value),
                else_=col(Crawl.status),
            ),
            modified_at=utcnow(),
        )
    )
    if touched.rowcount != 1:
        return []
    crawl = session.get(Crawl, plan.crawl_id)
    assert crawl is not None
    queued_ids: list[str] = []
    if plan.candidates:
        budget = _budget(session, crawl)
        depth = plan.depth + 1
        wanted: list[str] = []
        for url, verdict in plan.candidates:
            if verdict == Verdict.queued and budget <= 0:
                verdict = Verdict.limit
            if _record(session, crawl.id, url, depth=depth, verdict=verdict) and (
                verdict == Verdict.queued
            ):
                wanted.append(url)
                budget -= 1
        if wanted:
            outcome = snaps.add_urls(
                session,
                principal=owner(crawl),
                entries=[snaps.UrlEntry(url=u) for u in wanted],
                tags=snaps.parse_tags(crawl.tags_str),
                depth=depth,
                crawl_id=crawl.id,
                update=True,
                redeliver_after=plan.redeliver_after,
                workspace_id=crawl.workspace_id,
            )
            for url, snapshot_id in zip(wanted, outcome.snapshot_ids, strict=True):
                session.exec(  # type: ignore[call-overload]
                    update(CrawlUrl)
                    .where(
                        col(CrawlUrl.crawl_id) == crawl.id,
                        col(CrawlUrl.url_key) == url_key(normalize_url(url)),
                    )
                    .values(snapshot_id=snapshot_id)
                )
            queued_ids = outcome.queued_ids
    seal_if_done(session, crawl.id)
    return queued_ids
