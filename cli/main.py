"""`amber`: archive URLs, serve the API, run workers, manage tokens."""

from __future__ import annotations

import importlib

import typer

from cli import archive, server, tokens

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Amber: a self-hosted, distributed web archive.",
)

archive.register(app)
server.register(app)
tokens.register(app)
for _name in ("cli.fleet", "cli.bulk", "cli.crawls", "cli.domains", "cli.wacz"):
    try:
        importlib.import_module(_name).register(app)
    except ModuleNotFoundError as _exc:
        if _exc.name != _name:
            raise
