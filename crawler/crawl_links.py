"""Following a crawl page's links: planned outside any transaction, recorded inside one.

When a capture of a crawl's snapshot finishes, the worker plans the links to
follow *outside* any transaction (reading the DOM and robots.txt is I/O), then
`follow_links` records them in the same transaction that finishes the parent,
so a crawl never loses or double-queues a link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import case, func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from crawler import snapshots as snaps
from crawler.blobs import BlobStore
from crawler.clock import utcnow
from crawler.crawl_rules import CrawlRules, extract_links
from crawler.crawls import CrawlStatus, Verdict, owner, record_url, seal_if_done, url_key
from crawler.errors import FetchRefused
from crawler.models import ArchiveResult, Crawl, CrawlUrl, Snapshot
from crawler.robots import ROBOTS, RobotsCache
from crawler.urls import Network, check_fetch_allowed, normalize_url


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
            if record_url(session, crawl.id, url, depth=depth, verdict=verdict) and (
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
