"""`amber schedule add|list|remove|run`: re-archive URLs (or everything with a tag) over time.

Schedules fire from the periodic job of any running `amber serve` / `amber
worker`; `amber schedule run` fires whatever is due right here (for cron).
"""

from __future__ import annotations

import typer
from rich.table import Table
from sqlmodel import Session, col, select

from cli.common import cli_errors, configure_logging, console, settings
from cli.snapshots import local_principal, print_snapshots, wait_all, wait_for_crawl
from crawler import crawls, db, schedules
from crawler.clock import iso, utcnow
from crawler.db import open_store
from crawler.models import Snapshot

app = typer.Typer(no_args_is_help=True, help="Re-archive URLs on a schedule.")


@app.command("add")
def add(
    urls: list[str] = typer.Argument(None, help="URLs to re-archive (or use --tag alone)."),
    every: str = typer.Option(..., "--every", help="'1d', '6h', '30m', 'day', or seconds."),
    tag: str = typer.Option("", "--tag", help="Without URLs: re-archive every URL with this tag."),
    depth: int = typer.Option(0, "--depth", min=0, max=crawls.MAX_DEPTH),
    label: str = typer.Option("", "--label"),
    notify: str = typer.Option(
        "", "--notify", help="Webhook URL to POST to when a re-capture's text changed."
    ),
    threshold: float = typer.Option(
        schedules.DEFAULT_THRESHOLD,
        "--threshold",
        min=0.0,
        max=1.0,
        help="Share of the text (0..1) that must change before --notify is told.",
    ),
) -> None:
    """Store a schedule; it fires first one interval from now."""
    cfg = settings()
    with cli_errors():
        engine, _ = open_store(cfg)
        with db.session_scope(engine) as session:
            schedule = schedules.create_schedule(
                session,
                principal=local_principal(session),
                every=every,
                urls=urls or [],
                tag=tag,
                depth=depth,
                label=label,
                notify_url=notify or None,
                notify_threshold=threshold,
                networks=cfg.networks,
            )
    console.print(schedule.id, highlight=False)


@app.command("list")
def list_() -> None:
    """Every schedule, with its next run."""
    with cli_errors():
        engine, _ = open_store(settings())
        with db.session_scope(engine) as session:
            rows = schedules.list_schedules(session, local_principal(session))
    table = Table("id", "every", "what", "depth", "next run", "runs", "notify")
    for row in rows:
        what = " ".join(row.urls.split()) or f"tag:{row.tag}"
        notify = f"{row.notify_url} (>{row.notify_threshold:g})" if row.notify_url else ""
        table.add_row(
            row.id,
            f"{row.every_seconds}s",
            what[:60],
            str(row.depth),
            iso(row.next_run_at) or "",
            str(row.runs),
            notify,
        )
    console.print(table)


@app.command("remove")
def remove(schedule_id: str = typer.Argument(..., help="The schedule's id.")) -> None:
    """Delete a schedule (snapshots it already made stay)."""
    with cli_errors():
        engine, _ = open_store(settings())
        with db.session_scope(engine) as session:
            schedule = schedules.get_schedule(session, local_principal(session), schedule_id)
            session.delete(schedule)
    console.print(f"removed {schedule_id}", highlight=False)


def _crawls_of(engine: object, snapshot_ids: list[str]) -> list[str]:
    with Session(engine) as session:  # type: ignore[arg-type]
        found = session.exec(
            select(Snapshot.crawl_id).where(
                col(Snapshot.id).in_(snapshot_ids), col(Snapshot.crawl_id).is_not(None)
            )
        ).all()
    return sorted({c for c in found if c})


@app.command("run")
def run(verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """Fire the schedules that are due now, capture what they queue here, send change alerts."""
    from workers.embedded import build_node
    from workers.periodic import deliver_alerts

    configure_logging(verbose)
    cfg = settings()
    with cli_errors():
        node = build_node(cfg, workers=True, reconcile=False)
        try:
            node.start()
            ids = schedules.fire_due(
                node.engine,
                now=utcnow(),
                dispatch=node.dispatch,
                redeliver_after=cfg.redeliver_seconds,
            )
            if ids:
                wait_all(node.engine, ids, label="Re-archiving", poll=0.25)
            for crawl_id in _crawls_of(node.engine, ids):
                ids = [*ids, *wait_for_crawl(node.engine, crawl_id, label="Following links")]
            print_snapshots(node.engine, list(dict.fromkeys(ids)))
        finally:
            # Stopping waits for the running captures, whose change checks run after the
            # snapshot reads `succeeded`: delivering before that raced them (and lost).
            node.stop()
        alerted = deliver_alerts(node.engine, cfg)
    console.print(f"{len(ids)} snapshot(s) from due schedules", highlight=False)
    if alerted:
        console.print(f"{alerted} change alert(s) sent", highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="schedule")
