"""`amber fsck` and `amber gc`: the blob store checked against the database, and cleaned."""

from __future__ import annotations

import typer

from cli.common import cli_errors, console, progress_bar, settings
from crawler import blob_check
from crawler.db import open_store


def fsck(
    show: int = typer.Option(20, "--show", min=0, help="List at most this many hashes per kind."),
) -> None:
    """Re-hash every blob; report corrupt, missing (named, not stored) and orphaned ones.

    Exits 1 when a blob is corrupt or missing; orphans only waste space (`amber gc`).
    """
    with cli_errors():
        engine, blobs = open_store(settings())
        stored = blob_check.stored_hashes(blobs)
        with progress_bar() as bar:
            task = bar.add_task("re-hashing blobs", total=len(stored))
            report = blob_check.fsck(
                engine, blobs, stored=stored, progress=lambda n: bar.advance(task, n)
            )
    console.print(f"checked {report.checked} blobs")
    for label, hashes in (
        ("corrupt", report.corrupt),
        ("missing", report.missing),
        ("orphaned", report.orphaned),
    ):
        console.print(f"{label}: {len(hashes)}", markup=False, highlight=False)
        for sha256 in hashes[:show]:
            console.print(f"  {label} {sha256}", markup=False, highlight=False)
    if not report.ok:
        raise typer.Exit(1)


def gc(
    grace: float = typer.Option(
        3600.0, "--grace", min=0, help="Spare unreferenced blobs younger than this (seconds)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be freed."),
) -> None:
    """Free blobs nothing references any more (those of deleted snapshots)."""
    with cli_errors():
        engine, blobs = open_store(settings())
        stored = blob_check.stored_hashes(blobs)
        with progress_bar() as bar:
            task = bar.add_task("collecting garbage", total=len(stored))
            report = blob_check.gc(
                engine,
                blobs,
                stored=stored,
                grace_seconds=grace,
                dry_run=dry_run,
                progress=lambda n: bar.advance(task, n),
            )
    verb = "would free" if dry_run else "freed"
    console.print(
        f"{verb} {len(report.freed)} blobs ({report.freed_bytes} bytes); "
        f"spared {report.spared_recent} younger than {grace:.0f}s; "
        f"{report.temporaries} leftover temporary files",
        markup=False,
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("fsck")(fsck)
    app.command("gc")(gc)
