"""`amber crawl`: archive pages and the pages they link to, within a scope, on this machine."""

from __future__ import annotations

import typer
from sqlmodel import Session

from cli.common import cli_errors, configure_logging, console, settings
from cli.snapshots import local_principal, print_snapshots, wait_for_crawl
from crawler import crawls, db
from crawler.crawl_rules import SCOPES, clean_config
from crawler.models import SnapshotStatus


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
    persona: str = typer.Option("", "--persona", help="Capture every page as this persona."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Capture the seed pages, then follow their links (breadth by depth) within the scope."""
    from workers.embedded import build_node

    configure_logging(verbose)
    cfg = settings()
    with cli_errors():
        if scope not in SCOPES:
            raise typer.BadParameter(f"--scope must be one of {', '.join(SCOPES)}")
        config = clean_config(
            {
                "scope": scope,
                "include": include,
                "exclude": exclude,
                "ignore_robots": ignore_robots,
                "persona": persona,
            }
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
    app.command("crawl")(crawl)
