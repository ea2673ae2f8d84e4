"""`amber token create|list|revoke` and `amber db upgrade`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import typer

from cli.common import cli_errors, console, settings
from crawler import db
from crawler.auth import is_active, issue_token, list_tokens, revoke_token
from crawler.clock import iso, utcnow
from crawler.db import open_store
from crawler.errors import InvalidInput

DURATION = re.compile(r"(\d+)([dhm])")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_expiry(text: str) -> datetime | None:
    """ "30d", "12h", "90m" from now, or an ISO 8601 time; empty means never."""
    text = text.strip()
    if not text:
        return None
    match = DURATION.fullmatch(text)
    if match:
        return utcnow() + timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"--expires takes 30d, 12h, 90m or an ISO 8601 time, not {text!r}"
        ) from exc


token_app = typer.Typer(no_args_is_help=True, help="API tokens.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")


@token_app.command("create")
def token_create(
    user: str = typer.Option(..., "--user", help="User name (created if new)."),
    admin: bool = typer.Option(False, "--admin", help="Give the user admin rights."),
    workspace: str = typer.Option("", "--workspace", help="Also join this shared workspace."),
    read_only: bool = typer.Option(False, "--read-only", help="GET/HEAD only: writes get 403."),
    expires: str = typer.Option("", "--expires", help="30d, 12h, 90m or an ISO 8601 time."),
) -> None:
    """Print a new API token for USER."""
    with cli_errors():
        expires_at = parse_expiry(expires)
        engine, _ = open_store(settings())
        with db.session_scope(engine) as session:
            token, _ = issue_token(
                session,
                user,
                admin=admin,
                workspace_name=workspace or None,
                scope="read" if read_only else "write",
                expires_at=expires_at,
            )
    console.print(token, markup=False, highlight=False)


@token_app.command("list")
def token_list(
    all_tokens: bool = typer.Option(False, "--all", help="Also revoked and expired tokens."),
) -> None:
    """One token a line: id, user, scope, state, created, expires (never the token itself)."""
    with cli_errors():
        engine, _ = open_store(settings())
        with db.session_scope(engine) as session:
            rows = list_tokens(session)
            now = utcnow()
            for row, username in rows:
                active = is_active(row, now=now)
                if not (active or all_tokens):
                    continue
                state = "active" if active else ("revoked" if row.revoked_at else "expired")
                fields = (
                    row.id,
                    username,
                    row.scope,
                    state,
                    iso(row.created_at) or "-",
                    iso(row.expires_at) or "never",
                )
                typer.echo("\t".join(fields))  # plain: Rich would turn tabs into spaces


@token_app.command("revoke")
def token_revoke(
    token_id: str = typer.Argument(..., help="The id `amber token list` shows."),
) -> None:
    """Revoke one token now; requests with it get 401 from then on."""
    with cli_errors():
        engine, _ = open_store(settings())
        with db.session_scope(engine) as session:
            row = revoke_token(session, token_id)
            when = iso(row.revoked_at)
    console.print(f"revoked {token_id} at {when}", markup=False, highlight=False)


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
