"""`amber import`, `amber update`, `amber search`: bookmarks in bulk, capture later, find again."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from sqlmodel import Session

from cli.common import (
    cli_errors,
    configure_logging,
    console,
    err_console,
    settings,
)
from cli.snapshots import local_principal, wait_all
from cli.wacz import import_archive_file
from crawler import search
from crawler import snapshot_states as states
from crawler import snapshots as snaps
from crawler.db import open_store
from crawler.errors import InvalidInput
from crawler.importers import PARSER_NAMES, Source, iter_entries, resolve_parser
from crawler.importers.detect import detect_archive
from crawler.importers.parallel import store_file
from crawler.importers.update import SELECTABLE, select_for_update
from crawler.importers.writer import BATCH_SIZE, BulkWriter, ImportSummary
from crawler.models import SnapshotStatus
from crawler.search_pages import SearchOrder
from crawler.snapshot_query import SnapshotFilters, query_page


def _open(path: str) -> tuple[BinaryIO, int | None]:
    if path == "-":
        return sys.stdin.buffer, None
    file = Path(path)
    if not file.exists():
        raise InvalidInput(f"no such file: {path}")
    if not file.is_file():
        raise InvalidInput(f"not a file: {path}")
    return file.open("rb"), file.stat().st_size


def _print_problems(summary: ImportSummary, limit: int) -> None:
    shown = summary.problems[:limit] if limit > 0 else []
    for problem in shown:
        err_console.print(f"[yellow]skipped[/yellow] {escape(str(problem))}", highlight=False)
    hidden = summary.invalid - len(shown)
    if hidden > 0 and limit > 0:
        err_console.print(f"… and {hidden} more skipped (raise --show-problems to list them)")


def import_file(
    file: str = typer.Argument(
        ..., help="A bookmarks export, URL list, WACZ or WARC; - reads stdin (not archives)."
    ),
    parser: str = typer.Option("auto", "--parser", help=f"One of: {', '.join(PARSER_NAMES)}."),
    tag: str = typer.Option("", "--tag", help="Comma-separated tags for every imported URL."),
    index_only: bool = typer.Option(False, "--index-only", help="Store without capturing."),
    update: bool = typer.Option(
        False, "--update", help="Add a new snapshot even for URLs already archived."
    ),
    batch_size: int = typer.Option(BATCH_SIZE, "--batch-size", min=1, max=100_000),
    show_problems: int = typer.Option(
        50, "--show-problems", min=0, help="How many skipped lines to list."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Import bookmarks (Netscape HTML, Pocket, Pinboard, RSS/Atom, JSON Lines, text), or
    the pages of a WACZ or WARC as snapshots (nothing is fetched)."""
    configure_logging(verbose)
    from workers.embedded import build_node

    if file != "-" and Path(file).is_file():
        with Path(file).open("rb") as probe:
            archive = detect_archive(probe.read(4096))
        if archive is not None:
            code = import_archive_file(
                Path(file), tags=snaps.parse_tags(tag), update=update, show_problems=show_problems
            )
            raise typer.Exit(code)
    cfg = settings()
    with cli_errors():
        stream, size = _open(file)
        source = Source(stream, name=file)
        fmt = resolve_parser(parser, source)
        err_console.print(f"Reading {escape(file)} as [bold]{fmt}[/bold]", highlight=False)
        node = build_node(cfg, workers=not index_only, reconcile=False)
        queued: list[str] = []

        def dispatch(ids: list[str]) -> None:
            queued.extend(ids)
            node.dispatch(ids)

        try:
            if not index_only:
                node.start()
            with Session(node.engine, expire_on_commit=False) as session:
                principal = local_principal(session)
                session.commit()
                writer = BulkWriter(
                    session,
                    principal=principal,
                    tags=snaps.parse_tags(tag),
                    index_only=index_only,
                    update=update,
                    redeliver_after=cfg.redeliver_seconds,
                    batch_size=batch_size,
                    on_commit=dispatch,
                )
                summary = _run_import(writer, source, fmt, size, path=None if file == "-" else file)
            _print_problems(summary, show_problems)
            kind = "stored (index only)" if index_only else "queued for capture"
            console.print(
                f"Imported {summary.imported} new URLs ({kind}), "
                # failed before: queued again, so not counted as duplicates
                + (f"{summary.retried} retried (failed before), " if summary.retried else "")
                + f"{summary.duplicates} duplicate, {summary.invalid} invalid.",
                highlight=False,
            )
            if queued:
                counts = wait_all(node.engine, queued, label="Archiving")
                console.print(
                    ", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
                    highlight=False,
                )
        finally:
            node.stop()
            if stream is not sys.stdin.buffer:
                stream.close()
    if summary.imported == 0 and summary.duplicates == 0 and summary.retried == 0:
        err_console.print("[red]error:[/red] no URLs found to import")
        raise typer.Exit(1)


def _run_import(
    writer: BulkWriter, source: Source, fmt: str, size: int | None, *, path: str | None
) -> ImportSummary:
    """A regular file is parsed in a second process while this one stores (see
    crawler.importers.parallel); stdin is parsed here."""
    columns: list[Any] = [TextColumn("[bold]Importing"), BarColumn()]
    columns += [DownloadColumn()] if size else []
    columns += [TextColumn("{task.fields[counts]}"), TimeElapsedColumn()]
    with Progress(*columns, console=err_console, transient=False) as progress:
        task = progress.add_task("import", total=size, counts="")

        def tick(read: int | None = None) -> None:
            s = writer.summary
            progress.update(
                task,
                completed=source.bytes_read if read is None else read,
                counts=f"{s.imported} new · {s.retried} retried · {s.duplicates} dup · "
                f"{s.invalid} invalid",
            )

        if path is not None:
            summary = store_file(writer, path, fmt, progress=tick)
            tick(size)
        else:
            writer.add_all(iter_entries(source, fmt), progress=tick)
            summary = writer.finish()
            tick()
    return summary


def update_snapshots(
    tag: str = typer.Option("", "--tag", help="Only snapshots with this tag."),
    status: str = typer.Option(
        "",
        "--status",
        help=f"Which snapshots: {', '.join(SELECTABLE)} (default: index-only ones).",
    ),
    limit: int = typer.Option(0, "--limit", min=0, help="At most this many (0: all)."),
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="Capture here and wait, or leave it to `amber serve`."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Capture snapshots stored with --index-only (or re-capture failed/succeeded ones)."""
    configure_logging(verbose)
    from workers.embedded import build_node

    cfg = settings()
    with cli_errors():
        node = build_node(cfg, workers=wait, reconcile=False)
        try:
            with Session(node.engine) as session:
                ids = select_for_update(
                    session, workspace_ids=None, tag=tag or None, status=status or None, limit=limit
                )
                # Without --wait a running `amber serve` should pick them up on its next
                # reconciler pass, so they are due at once.
                after = cfg.redeliver_seconds if wait else 0.0
                changed = states.requeue(session, ids, redeliver_after=after)
                session.commit()
            if not ids:
                console.print("Nothing to update.")
                return
            console.print(f"{changed} snapshot(s) queued for capture.", highlight=False)
            if wait:
                node.start()
                node.dispatch(ids)
                counts = wait_all(node.engine, ids, label="Archiving")
                console.print(
                    ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), highlight=False
                )
            else:
                console.print("`amber serve` (or `amber worker`) will capture them.")
        finally:
            node.stop()


def _highlight(snippet: str) -> str:
    text = escape(snippet)
    return text.replace(search.MARK_START, "[bold yellow]").replace(
        search.MARK_END, "[/bold yellow]"
    )


def search_snapshots(
    query: str = typer.Argument(..., help="Words to find in URL, title, tags and page text."),
    limit: int = typer.Option(20, "--limit", min=1, max=500),
    tag: str = typer.Option("", "--tag"),
    status: str = typer.Option("", "--status"),
) -> None:
    """Full-text search, best matches first, with a snippet of where each matched."""
    with cli_errors():
        if status and status not in SnapshotStatus.__members__:
            raise InvalidInput(f"unknown status {status!r}")
        engine, _ = open_store(settings())
        with Session(engine) as session:
            principal = local_principal(session)
            session.commit()
            filters = SnapshotFilters(search=query, tag=tag or None, status=status or None)
            page = query_page(session, principal, filters, limit=limit, offset=0)
            rows, total = page.rows, page.total.value
            snippets = search.snippets(session, query, [r.id for r in rows])
            tags = snaps.snapshot_tags(session, [r.id for r in rows])
        engine.dispose()
    if not rows:
        console.print(f"No snapshots match {escape(query)!s}.", highlight=False)
        raise typer.Exit(1)
    if page.search_order == SearchOrder.NEWEST:  # too many to rank (crawler.search_pages)
        heading = f"{total} matches, too many to rank; newest {len(rows)}:"
    else:
        heading = f"{total} match(es); best {len(rows)}:"
    console.print(heading, highlight=False)
    for rank, row in enumerate(rows, start=1):
        title = escape(row.title or "(no title)")
        console.print(f"[bold]{rank}. {title}[/bold]", highlight=False)
        console.print(f"   {escape(row.url)}", highlight=False)
        if snippets.get(row.id):
            console.print(f"   {_highlight(snippets[row.id])}", highlight=False)
        meta = [row.status, row.timestamp, row.id]
        if tags[row.id]:
            meta.append("tags: " + ", ".join(tags[row.id]))
        console.print(f"   [dim]{escape(' · '.join(meta))}[/dim]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("import")(import_file)
    app.command("update")(update_snapshots)
    app.command("search")(search_snapshots)
