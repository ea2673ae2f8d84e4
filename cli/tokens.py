"""`amber token create` and `amber db upgrade`."""

from __future__ import annotations

import typer

from cli.common import cli_errors, console, settings
from crawler import db
from crawler.auth import create_token
from crawler.db import open_store

token_app = typer.Typer(no_args_is_help=True, help="API tokens.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")


@token_app.command("create")
def token_create(
    user: str = typer.Option(..., "--user", help="User name (created if new)."),
    admin: bool = typer.Option(False, "--admin", help="Give the user admin rights."),
    workspace: str = typer.Option("", "--workspace", help="Also join this shared workspace."),
) -> None:
    """Print a new API token for USER."""
    with cli_errors():
        engine, _ = open_store(settings())
        with db.session_scope(engine) as session:
            token = create_token(session, user, admin=admin, workspace_name=workspace or None)
    console.print(token, markup=False, highlight=False)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("heads")) -> None:
    """Run the Alembic migrations (SQLite or PostgreSQL)."""
    with cli_errors():
        cfg = settings()
        db.upgrade(cfg.resolved_database_url, revision)
    console.print(f"database at revision {revision}")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
    app.add_typer(db_app, name="db")
