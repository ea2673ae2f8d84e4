"""`amber crawl`: archive pages and the pages they link to, within a scope, on this machine."""

from __future__ import annotations

import time
from typing import Any

import typer
from sqlalchemy import func
from sqlmodel import Session, select

from cli.common import cli_errors, configure_logging, console, progress_bar, settings
from crawler import crawls, db
from crawler.crawl_rules import SCOPES, clean_config
from crawler.models import Snapshot, SnapshotStatus

ACTIVE = [SnapshotStatus.queued, SnapshotStatus.started]


def _progress(engine: Any, crawl_id: str) -> tuple[int, int]:
    """(all snapshots, finished snapshots) of the crawl; the total grows as links are found."""
    with Session(engine) as session:
        rows = dict(
            session.exec(
                select(Snapshot.status, func.count())
                .where(Snapshot.crawl_id == crawl_id)
                .group_by(Snapshot.status)
            ).all()
        )
    total = sum(int(n) for n in rows.values())
    active = sum(int(rows.get(s, 0)) for s in ACTIVE)
    return total, total - active


def wait_for_crawl(engine: Any, crawl_id: str, *, label: str) -> list[str]:
    """Show a progress bar until nothing in the crawl is queued or started, then seal it."""
    with progress_bar() as progress:
        task = progress.add_task(label, total=None)
        while True:
            total, done = _progress(engine, crawl_id)
            progress.update(task, total=total, completed=done)
            if done >= total:
                break
            time.sleep(0.25)
    with db.session_scope(engine) as session:
        crawls.seal_if_done(session, crawl_id)
        return crawls.crawl_snapshot_ids(session, crawl_id)


def crawl(
    urls: list[str] = typer.Argument(..., help="Seed URLs."),
    depth: int = typer.Option(1, "--depth", min=0, max=crawls.MAX_DEPTH, help="Link hops."),
    max_urls: int = typer.Option(0, "--max-urls", min=0, help="Most pages (0: no limit)."),
    max_size: int = typer.Option(0, "--max-size", min=0, help="Stop following at N bytes."),
    scope: str = typer.Option("prefix", "--scope", help="page | prefix | host | domain | any"),
    include: list[str] = typer.Option([], "--include", help="Only follow URLs matching REGEX."),
    exclude: list[str] = typer.Option([], "--exclude", help="Never follow URLs matching REGEX."),
    ignore_robots: bool = typer.Option(False, "--ignore-robots", help="Do not read robots.txt."),
    tag: str = typer.Option("", "--tag", help="Comma-separated tags for every page."),
    label: str = typer.Option("", "--label"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Capture the seed pages, then follow their links (breadth by depth) within the scope."""
    from cli.archive import local_principal, print_snapshots
    from workers.embedded import build_node

    configure_logging(verbose)
    cfg = settings()
    with cli_errors():
        if scope not in SCOPES:
            raise typer.BadParameter(f"--scope must be one of {', '.join(SCOPES)}")
        config = clean_config(
            {"scope": scope, "include": include, "exclude": exclude, "ignore_robots": ignore_robots}
        )
        node = build_node(cfg, workers=True, reconcile=False)
        try:
            with db.session_scope(node.engine) as session:
                new, outcome = crawls.create_crawl(
                    session,
                    principal=local_principal(session),
                    urls=urls,
                    max_depth=depth,
                    max_urls=max_urls,
                    max_size=max_size,
                    tags_str=tag,
                    label=label,
                    config=config,
                    redeliver_after=cfg.redeliver_seconds,
                )
            console.print(f"crawl {new.id}", highlight=False)
            node.start()
            node.dispatch(outcome.queued_ids)
            ids = wait_for_crawl(node.engine, new.id, label="Crawling")
            rows = print_snapshots(node.engine, ids)
            with Session(node.engine) as session:
                skipped = crawls.skipped_counts(session, new.id)
        finally:
            node.stop()
    notes = ", ".join(f"{n} {why}" for why, n in skipped.items() if n)
    console.print(f"{len(rows)} page(s) archived; skipped: {notes or 'none'}", highlight=False)
    if any(r.status == SnapshotStatus.failed for r in rows):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    from cli import schedules

    app.command("crawl")(crawl)
    schedules.register(app)
