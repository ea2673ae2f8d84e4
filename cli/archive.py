"""`amber add` and `amber status`: archive URLs on this machine and see how they went."""

from __future__ import annotations

import time
from collections.abc import Sequence

import typer
from rich.table import Table
from sqlmodel import Session, col, select

from cli.common import cli_errors, configure_logging, console, progress_bar, settings
from crawler import crawls, db
from crawler import snapshots as snaps
from crawler.auth import Principal, ensure_user, principal_for_user
from crawler.models import Snapshot, SnapshotStatus

TERMINAL = {SnapshotStatus.succeeded, SnapshotStatus.failed, SnapshotStatus.sealed}
LOCAL_USER = "local"


def local_principal(session: Session, username: str = LOCAL_USER) -> Principal:
    """The CLI acts as a local admin user, so everything it adds is visible in the API too."""
    return principal_for_user(session, ensure_user(session, username, admin=True))


def wait_for(
    engine: object, snapshot_ids: Sequence[str], *, label: str, timeout: float | None = None
) -> None:
    """Show a progress bar until every snapshot is terminal."""
    ids = list(snapshot_ids)
    deadline = time.monotonic() + timeout if timeout else None
    with progress_bar() as progress:
        task = progress.add_task(label, total=len(ids))
        while True:
            with Session(engine) as session:  # type: ignore[arg-type]
                done = session.exec(
                    select(Snapshot.id).where(
                        col(Snapshot.id).in_(ids), col(Snapshot.status).in_(list(TERMINAL))
                    )
                ).all()
            progress.update(task, completed=len(done))
            if len(done) >= len(ids) or (deadline and time.monotonic() > deadline):
                return
            time.sleep(0.25)


def print_snapshots(engine: object, snapshot_ids: Sequence[str]) -> list[Snapshot]:
    with Session(engine) as session:  # type: ignore[arg-type]
        rows = session.exec(select(Snapshot).where(col(Snapshot.id).in_(list(snapshot_ids)))).all()
        results = snaps.results_for(session, [r.id for r in rows])
    order = {sid: i for i, sid in enumerate(snapshot_ids)}
    rows = sorted(rows, key=lambda r: order.get(r.id, 0))
    for row in rows:
        done = sorted(r.plugin for r in results[row.id] if r.status == "succeeded")
        colour = {"succeeded": "green", "failed": "red"}.get(row.status, "yellow")
        line = f"{row.id}  [{colour}]{row.status}[/{colour}]  {row.url}"
        console.print(line, highlight=False)
        if done:
            console.print(
                f"    outputs: {', '.join(done)}  (archive/{row.timestamp}/)", highlight=False
            )
        if row.last_error:
            console.print(f"    reason: {row.last_error}", highlight=False, markup=False)
    return list(rows)


def add(
    urls: list[str] = typer.Argument(..., help="URLs to archive."),
    tag: str = typer.Option("", "--tag", help="Comma-separated tags."),
    depth: int = typer.Option(0, "--depth", min=0, max=1, help="1 also archives linked pages."),
    update: bool = typer.Option(False, "--update", help="Archive again even if already archived."),
    index_only: bool = typer.Option(False, "--index-only", help="Store without capturing."),
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
        node = build_node(cfg, workers=not index_only, reconcile=False)
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
                        config={"scope": "any"},
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
                    )
            if outcome.queued_ids:
                node.start()
                node.dispatch(outcome.queued_ids)
                if crawl_id:
                    from cli.crawls import wait_for_crawl

                    outcome.snapshot_ids = wait_for_crawl(node.engine, crawl_id, label="Archiving")
                else:
                    wait_for(node.engine, outcome.queued_ids, label="Archiving")
            rows = print_snapshots(node.engine, outcome.snapshot_ids)
        finally:
            node.stop()
    if outcome.duplicates:
        console.print(f"{outcome.duplicates} already archived (use --update to archive again)")
    if any(r.status == SnapshotStatus.failed for r in rows):
        raise typer.Exit(1)


def status(
    state: str = typer.Option("", "--status", help="Only snapshots in this state."),
    limit: int = typer.Option(50, "--limit", min=1, max=10000),
) -> None:
    """List snapshots, newest first, with their status and outputs."""
    from workers.embedded import open_store

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
