"""`amber user create NAME` and `amber user password NAME`: web sign-in passwords."""

from __future__ import annotations

import sys

import typer

from cli.common import cli_errors, console, settings
from crawler import db
from crawler.db import open_store
from crawler.users import set_password

user_app = typer.Typer(no_args_is_help=True, help="Users who sign in to the web UI.")


def _read_password(from_stdin: bool) -> str:
    """From stdin (first line, for scripts) or a hidden prompt asked twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _set(name: str, *, create: bool, admin: bool, password_stdin: bool) -> None:
    password = _read_password(password_stdin)
    with cli_errors():
        engine, _ = open_store(settings())
        with db.session_scope(engine) as session:
            user = set_password(session, name, password, create=create, admin=admin)
    console.print(f"password set for {user.username}", markup=False, highlight=False)


@user_app.command("create")
def user_create(
    name: str = typer.Argument(..., help="User name."),
    admin: bool = typer.Option(False, "--admin", help="Give the user admin rights."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from stdin instead of a prompt."
    ),
) -> None:
    """Create NAME (or update an existing user) with a password for the web UI."""
    _set(name, create=True, admin=admin, password_stdin=password_stdin)


@user_app.command("password")
def user_password(
    name: str = typer.Argument(..., help="An existing user's name."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from stdin instead of a prompt."
    ),
) -> None:
    """Set NAME's password; signs that user out of every browser."""
    _set(name, create=False, admin=False, password_stdin=password_stdin)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
