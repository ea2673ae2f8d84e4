"""Shared CLI plumbing: settings, the one error boundary, the console."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from crawler.errors import AmberError
from crawler.settings import Settings, load_settings

console = Console()
err_console = Console(stderr=True)


def progress_bar() -> Progress:
    """The progress bar every long-running command shows: label, bar, N/M, elapsed."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def settings() -> Settings:
    try:
        return load_settings()
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] invalid settings: {exc}")
        raise typer.Exit(2) from exc


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Amber's own errors become one red line and exit code 2, never a traceback."""
    try:
        yield
    except AmberError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
