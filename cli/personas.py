"""`amber persona`: logins to capture as (import a cookies file, or log in once in a browser).

The CLI acts as the local user, so its personas belong to that user's
workspace; `amber add --persona NAME` and host patterns use them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cli.common import cli_errors, console, settings
from cli.snapshots import local_principal
from crawler import db, personas, snapshots
from crawler.db import open_store
from crawler.errors import InvalidInput

persona_app = typer.Typer(no_args_is_help=True, help="Logins to capture as (personas).")

HOST_HELP = "Use it for URLs whose host matches (repeatable; e.g. *.example.com)."


def _save(name: str, state: personas.StorageState, hosts: list[str]) -> None:
    cfg = settings()
    engine, _ = open_store(cfg)
    fernet = personas.cipher(engine, cfg.persona_key)  # may write the key: before our session
    with db.session_scope(engine) as session:
        persona = personas.save(
            session,
            principal=local_principal(session),
            name=name,
            state=state,
            hosts=hosts,
            fernet=fernet,
        )
        shown = personas.public(persona)
    cookies, origins = len(state.get("cookies", [])), len(state.get("origins", []))
    where = ", ".join(shown["hosts"]) or "only when named (--persona)"
    console.print(
        f"persona {name}: {cookies} cookies, {origins} origins with local storage; used for {where}"
    )


@persona_app.command("import")
def persona_import(
    name: str = typer.Argument(..., help="The persona's name."),
    file: Path = typer.Argument(..., help="A Netscape cookies.txt or a storage-state JSON."),
    host: list[str] = typer.Option([], "--host", help=HOST_HELP),
) -> None:
    """Store the cookies (and local storage) of FILE, encrypted, as persona NAME."""
    with cli_errors():
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read {file}: {exc.strerror}") from exc
        _save(name, personas.parse_state(data), host)


@persona_app.command("login")
def persona_login(
    name: str = typer.Argument(..., help="The persona's name."),
    url: str = typer.Argument(..., help="The page to log in on."),
    host: list[str] = typer.Option([], "--host", help=HOST_HELP),
) -> None:
    """Open a browser window on URL; log in, then close the window to store the login."""
    with cli_errors():
        snapshots.validate_url(url)
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise InvalidInput(
                "`amber persona login` opens a browser window and needs a display "
                "(DISPLAY is unset); log in on a machine with one, export the cookies "
                "(cookies.txt) and use `amber persona import`"
            )
        state = _login(url, settings().headed_chromium_executable())
        _save(name, personas.parse_state_dict(state), host)


def _login(url: str, executable: str | None) -> dict[str, Any]:
    """Keep the context's state as it changes: closing the last window ends the browser."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=False)
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)
        console.print("Log in in the browser window, then close it.")
        state: dict[str, Any] = {}
        while not page.is_closed() and browser.is_connected():
            try:
                state = dict(context.storage_state())
                page.wait_for_timeout(1000)
            except PlaywrightError:
                break
        with contextlib.suppress(PlaywrightError):
            browser.close()
    return state


@persona_app.command("list")
def persona_list() -> None:
    """List the personas (never their cookies)."""
    with cli_errors():
        engine, _ = open_store(settings())
        with db.session_scope(engine) as session:
            principal = local_principal(session)
            rows = [
                personas.public(p)
                for p in personas.listing(session, workspace_ids=principal.workspace_ids)
            ]
    table = Table("name", "hosts", "modified")
    for row in rows:
        table.add_row(row["name"], ", ".join(row["hosts"]), row["modified_at"][:19])
    console.print(table)


@persona_app.command("delete")
def persona_delete(name: str = typer.Argument(..., help="The persona's name.")) -> None:
    """Forget persona NAME and its login."""
    with cli_errors():
        engine, _ = open_store(settings())
        with db.session_scope(engine) as session:
            personas.delete(session, principal=local_principal(session), name=name)
    console.print(f"persona {name} deleted")


def register(app: typer.Typer) -> None:
    app.add_typer(persona_app, name="persona")
