"""`amber export --wacz FILE`, and the WACZ/WARC side of `amber import` (see cli/bulk.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer
from rich.filesize import decimal
from rich.markup import escape
from sqlmodel import Session

from cli.common import cli_errors, console, err_console, progress_bar, settings
from cli.snapshots import local_principal
from crawler.db import open_store
from crawler.errors import InvalidInput
from crawler.models import SnapshotStatus
from crawler.snapshot_query import SnapshotFilters


def export(
    wacz: Path = typer.Option(..., "--wacz", dir_okay=False, help="The WACZ file to write."),
    tag: str = typer.Option("", "--tag", help="Only snapshots with this tag."),
    crawl: str = typer.Option("", "--crawl", help="Only this crawl's snapshots."),
    ids: list[str] = typer.Option(
        [], "--id", help="A snapshot (id, id prefix or timestamp); repeat it. Not with filters."
    ),
    search: str = typer.Option("", "--search", help="Only snapshots matching this search."),
    url: str = typer.Option("", "--url", help="Only captures of exactly this URL."),
    status: str = typer.Option("", "--status", help="Only snapshots with this status."),
    title: str = typer.Option("", "--title", help="The package's title."),
) -> None:
    """Export snapshots as one WACZ (ReplayWeb.page, pywb, Browsertrix); no filter: all."""
    # Imported here: the WACZ side (trafilatura among it) is not loaded by every `amber` command.
    from crawler.wacz.export import build_wacz
    from crawler.wacz.selection import plan_export

    cfg = settings()
    with cli_errors():
        if status and status not in SnapshotStatus.__members__:
            raise InvalidInput(f"unknown status {status!r}")
        engine, blobs = open_store(cfg)
        try:
            with Session(engine) as session:
                principal = local_principal(session)
                session.commit()
                filters = SnapshotFilters(
                    tag=tag or None,
                    crawl_id=crawl or None,
                    search=search or None,
                    url=url or None,
                    status=status or None,
                )
                plan = plan_export(
                    session, principal, blobs=blobs, ids=ids, filters=filters, title=title or None
                )
        finally:
            engine.dispose()
        part = wacz.with_name(wacz.name + ".part")
        warcs = len(plan.warc_names())
        try:
            with progress_bar() as progress, part.open("wb") as out:
                tasks = {
                    "index": progress.add_task("Indexing WARCs", total=warcs),
                    "write": progress.add_task("Writing WACZ", total=warcs),
                }
                for step in build_wacz(plan, blobs, out, scratch=cfg.data_dir / "tmp"):
                    progress.update(tasks[step.stage], completed=step.done)
            part.replace(wacz)
        except OSError as exc:
            raise InvalidInput(f"cannot write {wacz}: {exc.strerror or exc}") from exc
        finally:
            part.unlink(missing_ok=True)
    left_out = f"; {plan.skipped} without a WARC left out" if plan.skipped else ""
    console.print(
        f"Wrote {escape(str(wacz))}: {len(plan.pages)} snapshot(s), "
        f"{decimal(wacz.stat().st_size)}{left_out}.",
        highlight=False,
        soft_wrap=True,
    )


def import_archive_file(
    path: Path, *, tags: Sequence[str], update: bool, show_problems: int
) -> int:
    """`amber import` of a WACZ or WARC: one snapshot per page; returns the exit code."""
    from crawler.wacz.importer import import_archive

    cfg = settings()
    with cli_errors():
        engine, blobs = open_store(cfg)
        try:
            with Session(engine) as session:
                principal = local_principal(session)
                session.commit()
            with progress_bar() as progress:
                task = progress.add_task("Importing pages", total=None)
                summary = import_archive(
                    path,
                    engine=engine,
                    blobs=blobs,
                    principal=principal,
                    scratch=cfg.data_dir / "tmp",
                    tags=tags,
                    update=update,
                    on_progress=lambda done, total: progress.update(
                        task, completed=done, total=total
                    ),
                )
                progress.update(task, total=summary.imported, completed=summary.imported)
        finally:
            engine.dispose()
    for problem in summary.problems[: max(show_problems, 0)]:
        err_console.print(f"[yellow]skipped[/yellow] {escape(str(problem))}", highlight=False)
    console.print(
        f"Imported {summary.imported} page(s) from {escape(path.name)} ({summary.kind}) as "
        f"snapshots, {summary.duplicates} duplicate, {len(summary.problems)} skipped.",
        highlight=False,
        soft_wrap=True,
    )
    if summary.imported == 0 and summary.duplicates == 0:
        err_console.print("[red]error:[/red] no pages found to import")
        return 1
    return 0


def register(app: typer.Typer) -> None:
    app.command("export")(export)
