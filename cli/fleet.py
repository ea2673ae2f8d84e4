"""`amber worker` (capture on this node) and `amber workers` (see the whole fleet)."""

from __future__ import annotations

import json
import os
import sys

import typer
from rich.table import Table
from sqlmodel import Session

from cli.common import cli_errors, configure_logging, console, err_console, settings
from crawler import fleet as registry
from crawler.db import open_store


def worker(
    processes: int = typer.Option(
        1, "--processes", "-p", min=1, max=64, help="Worker processes, each with its own browser."
    ),
    threads: int = typer.Option(
        0,
        "--threads",
        "-t",
        min=0,
        max=64,
        help="Capture threads per process (AMBER_WORKER_THREADS).",
    ),
    shutdown_timeout: float = typer.Option(
        -1.0,
        "--shutdown-timeout",
        help="Seconds running captures get to finish on SIGTERM (default: capture timeout + 30).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Capture snapshots from the fleet's Redis queue until SIGTERM."""
    from workers.supervisor import SUPERVISOR_ENV, Supervisor, run_worker_process

    configure_logging(verbose)
    cfg = settings()
    if not cfg.broker_url:
        err_console.print(
            "[red]error:[/red] amber worker needs AMBER_BROKER_URL (redis://…); "
            "without one, `amber serve` captures in-process"
        )
        raise typer.Exit(2)
    per_process = threads or cfg.worker_threads
    grace = shutdown_timeout if shutdown_timeout >= 0 else cfg.capture_timeout + 30
    if processes > 1:
        argv = [sys.executable, "-m", "cli.fleet", "worker", "--processes", "1"]
        argv += ["--threads", str(per_process), "--shutdown-timeout", str(grace)]
        argv += ["--verbose"] if verbose else []
        raise typer.Exit(Supervisor(argv=argv, count=processes, grace=grace).run())
    parent = os.environ.get(SUPERVISOR_ENV)
    with cli_errors():
        code = run_worker_process(
            cfg, threads=per_process, grace=grace, parent_pid=int(parent) if parent else None
        )
    raise typer.Exit(code)


def workers(
    show_all: bool = typer.Option(False, "--all", help="Include workers that stopped cleanly."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    host: str = typer.Option("", "--host", help="Only workers on this host."),
    check: bool = typer.Option(
        False, "--check", help="Exit 1 unless at least one listed worker is alive (healthchecks)."
    ),
) -> None:
    """List the fleet's worker processes: alive, lost (no heartbeat) or stopped."""
    cfg = settings()
    with cli_errors():
        engine, _ = open_store(cfg)
        with Session(engine) as session:
            views = registry.list_workers(
                session,
                lost_after=registry.lost_after(cfg.heartbeat_seconds),
                include_stopped=show_all,
            )
    rows = [registry.describe(v) for v in views if not host or v.row.host == host]
    if check:
        alive = sum(1 for row in rows if row["state"] == "alive")
        console.print(f"{alive} alive worker(s)", highlight=False)
        raise typer.Exit(0 if alive else 1)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(
        "host", "pid", "state", "started", "heartbeat", "current", "done", "failed", "ver"
    )
    colours = {"alive": "green", "lost": "red", "stopped": "dim"}
    for row in rows:
        colour = colours[row["state"]]
        table.add_row(
            row["host"],
            str(row["pid"]),
            f"[{colour}]{row['state']}[/{colour}]",
            (row["started_at"] or "")[:19],
            f"{row['seconds_since_heartbeat']}s ago",
            (row["current_snapshot"] or "-")[:13],
            str(row["captures_done"]),
            str(row["captures_failed"]),
            row["version"],
        )
    console.print(table)
    console.print(f"{len(rows)} worker(s)", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("workers")(workers)


if __name__ == "__main__":  # the supervisor starts its children as `python -m cli.fleet worker`
    from cli.main import app

    app()
