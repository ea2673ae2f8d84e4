"""`amber add` and `amber status`: archive URLs on this machine and see how they went."""

from __future__ import annotations

import typer
from rich.table import Table
from sqlmodel import Session, col, select

from cli.common import cli_errors, configure_logging, console, settings
from cli.snapshots import local_principal, print_snapshots, wait_all, wait_for_crawl
from crawler import crawls, db, personas
from crawler import snapshots as snaps
from crawler.db import open_store
from crawler.models import Snapshot, SnapshotStatus


def add(
    urls: list[str] = typer.Argument(..., help="URLs to archive."),
    tag: str = typer.Option("", "--tag", help="Comma-separated tags."),
    depth: int = typer.Option(0, "--depth", min=0, max=1, help="1 also archives linked pages."),
    update: bool = typer.Option(False, "--update", help="Archive again even if already archived."),
    index_only: bool = typer.Option(False, "--index-only", help="Store without capturing."),
    persona: str = typer.Option("", "--persona", help="Capture logged in as this persona."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Capture each URL once in headless Chromium and store every output."""
    configure_logging(verbose)
    from workers.embedded import build_node

    cfg = settings()
    with cli_errors():
        for url in urls:
            snaps.validate_url(url)
        if depth and index_only:
            raise typer.BadParameter("--depth needs a capture to read links from")
        node = build_node(cfg, workers=not index_only, reconcile=False, one_shot=True)
        try:
            with db.session_scope(node.engine) as session:
                principal = local_principal(session)
                crawl_id = None
                if depth:  # a crawl: linked pages are read from each captured DOM
                    new, outcome = crawls.create_crawl(
                        session,
                        principal=principal,
                        urls=urls,
                        max_depth=depth,
                        tags_str=tag,
                        config={"scope": "any", "persona": persona},
                        redeliver_after=cfg.redeliver_seconds,
                    )
                    crawl_id = new.id
                else:
                    outcome = snaps.add_urls(
                        session,
                        principal=principal,
                        entries=[snaps.UrlEntry(url=u) for u in urls],
                        tags=snaps.parse_tags(tag),
                        update=update,
                        index_only=index_only,
                        redeliver_after=cfg.redeliver_seconds,
                        persona_id=personas.named_id(
                            session, workspace_id=principal.default_workspace_id, name=persona
                        ),
                    )
            if outcome.queued_ids:
                node.start()
                node.dispatch(outcome.queued_ids)
                if crawl_id:
                    outcome.snapshot_ids = wait_for_crawl(node.engine, crawl_id, label="Archiving")
                else:
                    wait_all(node.engine, outcome.queued_ids, label="Archiving", poll=0.25)
            rows = print_snapshots(node.engine, outcome.snapshot_ids)
        finally:
            node.stop()
    if outcome.retried:
        console.print(f"{outcome.retried} failed before and were captured again")
    if outcome.duplicates:
        console.print(f"{outcome.duplicates} already archived (use --update to archive again)")
    if any(r.status == SnapshotStatus.failed for r in rows):
        raise typer.Exit(1)


def status(
    state: str = typer.Option("", "--status", help="Only snapshots in this state."),
    limit: int = typer.Option(50, "--limit", min=1, max=10000),
) -> None:
    """List snapshots, newest first, with their status and outputs."""
    with cli_errors():
        engine, _ = open_store(settings())
        with Session(engine) as session:
            query = select(Snapshot).order_by(col(Snapshot.created_at).desc()).limit(limit)
            if state:
                if state not in SnapshotStatus.__members__:
                    raise typer.BadParameter(f"unknown status {state!r}")
                query = query.where(col(Snapshot.status) == state)
            rows = session.exec(query).all()
            results = snaps.results_for(session, [r.id for r in rows])
    table = Table("id", "status", "timestamp", "title", "url", "outputs")
    for row in rows:
        ok = [r.plugin for r in results[row.id] if r.status == "succeeded"]
        table.add_row(
            row.id[:13],
            row.status,
            row.timestamp,
            (row.title or "")[:40],
            row.url[:60],
            str(len(ok)),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("add")(add)
    app.command("status")(status)
