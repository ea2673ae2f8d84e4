"""Personas end to end: imported with the CLI, used by real captures, kept out of every output."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli.main import app
from cli.snapshots import LOCAL_USER
from crawler import crawls, db, personas
from crawler import snapshots as snaps
from crawler.auth import ensure_user, principal_for_user
from crawler.db import open_store
from crawler.errors import InvalidInput
from crawler.models import ArchiveResult, Persona, Snapshot
from crawler.settings import load_settings
from extractors.engine.browser import BrowserService
from extractors.registry import EXTRACTORS
from tests.capture_pages import (
    LOGIN_TEXT,
    MEMBERS_TEXT,
    SESSION_COOKIE,
    SESSION_VALUE,
    install,
)
from tests.conftest import amber_env
from tests.site import TestSite
from workers.pipeline import run_capture
from workers.runtime import Runtime

LOCAL_USER_OF_THE_CLI = LOCAL_USER  # the CLI imports personas as this user


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("personas")


@pytest.fixture(scope="module")
def runtime(data_dir: Path) -> Iterator[Runtime]:
    settings = load_settings(data_dir=data_dir, allowed_networks="127.0.0.1/32", max_attempts=1)
    engine, blobs = open_store(settings)
    browser = BrowserService(executable_path=settings.chromium_executable(), extractors=EXTRACTORS)
    yield Runtime(settings=settings, engine=engine, blobs=blobs, browser=browser)
    browser.stop()
    engine.dispose()


def cli(data_dir: Path, *args: str) -> tuple[int, str]:
    done = CliRunner().invoke(app, list(args), env=amber_env(data_dir))
    return done.exit_code, done.output


def capture(rt: Runtime, url: str, *, user: str, persona_id: str | None = None) -> str:
    with db.session_scope(rt.engine) as session:
        principal = principal_for_user(session, ensure_user(session, user))
        outcome = snaps.add_urls(
            session,
            principal=principal,
            entries=[snaps.UrlEntry(url=url)],
            update=True,
            persona_id=persona_id,
        )
    assert run_capture(rt, outcome.queued_ids[0]).status == "succeeded"
    return outcome.queued_ids[0]


def stored_text(rt: Runtime, snapshot_id: str) -> str:
    with Session(rt.engine) as session:
        row = session.exec(
            select(ArchiveResult).where(
                ArchiveResult.snapshot_id == snapshot_id, ArchiveResult.plugin == "text"
            )
        ).one()
    with rt.blobs.open(row.sha256 or "") as handle:
        return handle.read().decode()


def test_a_persona_logs_the_capture_in_and_its_cookie_is_stored_nowhere(
    runtime: Runtime, data_dir: Path, site: TestSite, tmp_path: Path
) -> None:
    install(site)
    url = site.url("/members.html")
    # Given a page that shows its content only with a session cookie
    # When it is captured without a persona, Then the capture is the login page
    anonymous = capture(runtime, url, user=LOCAL_USER_OF_THE_CLI)
    assert LOGIN_TEXT in stored_text(runtime, anonymous)

    # Given the cookie imported as a persona from a Netscape cookies.txt, for the test host
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(
        "# Netscape HTTP Cookie File\n"
        f"#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\t{SESSION_COOKIE}\t{SESSION_VALUE}\n"
    )
    code, out = cli(data_dir, "persona", "import", "member", str(cookies), "--host", "127.0.0.1")
    assert code == 0, out
    assert "1 cookies" in out and SESSION_VALUE not in out
    code, out = cli(data_dir, "persona", "list")
    assert code == 0 and "member" in out and SESSION_VALUE not in out

    # When the page is captured again (the persona attaches by host), Then it is the content
    logged_in = capture(runtime, url, user=LOCAL_USER_OF_THE_CLI)
    assert MEMBERS_TEXT in stored_text(runtime, logged_in)
    with Session(runtime.engine) as session:
        persona = session.exec(select(Persona)).one()
        # And the state is encrypted at rest
        assert SESSION_VALUE not in persona.state
        state = personas.decrypt(persona, personas.cipher(runtime.engine))
        assert state["cookies"][0]["value"] == SESSION_VALUE
        named = capture(runtime, url, user=LOCAL_USER_OF_THE_CLI, persona_id=persona.id)
        assert session.get(Snapshot, named) is not None
    assert MEMBERS_TEXT in stored_text(runtime, named)

    # And another tenant capturing the same URL never uses it
    other = capture(runtime, url, user="someone-else")
    assert LOGIN_TEXT in stored_text(runtime, other)

    # And the cookie's value is in no blob: not the WARC's request records, not any output
    blobs = [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) > 10
    for blob in blobs:
        data = blob.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        assert SESSION_VALUE.encode() not in data, blob
        assert b"Cookie: " + SESSION_COOKIE.encode() not in data, blob


def test_persona_input_is_checked(data_dir: Path, tmp_path: Path) -> None:
    # Given files that are neither cookies.txt nor a storage state, Then they are refused
    for bad in (b"not cookies at all", b'{"cookies": [{"value": "x"}]}', b"{oops"):
        with pytest.raises(InvalidInput):
            personas.parse_state(bad)
    state = personas.parse_state(
        b'{"cookies": [{"name": "a", "value": "b", "domain": ".example.com"}],'
        b' "origins": [{"origin": "https://example.com", "localStorage": [{"name": "k",'
        b' "value": "v"}]}]}'
    )
    assert state["origins"][0]["localStorage"] == [{"name": "k", "value": "v"}]
    # And the CLI says so in one line, without a traceback
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    code, out = cli(data_dir, "persona", "import", "junk", str(junk))
    assert code == 2 and "expected 7 tab-separated fields" in out
    code, out = cli(data_dir, "persona", "import", "x", str(junk), "--host", "/etc/passwd")
    assert code == 2
    # And `amber add --persona` with an unknown name is refused before anything is queued
    code, out = cli(data_dir, "add", "--persona", "nobody", "http://127.0.0.1:9/")
    assert code == 2 and "no persona named 'nobody'" in out
    # And a crawl naming a persona its workspace does not have is refused
    engine, _ = open_store(load_settings(data_dir=data_dir))
    with pytest.raises(InvalidInput, match="no persona named 'member'"), Session(engine) as session:
        stranger = principal_for_user(session, ensure_user(session, "stranger"))
        crawls.create_crawl(
            session, principal=stranger, urls=["https://example.com/"], config={"persona": "member"}
        )
    engine.dispose()
    # And without a display, `persona login` says what to do instead
    done = CliRunner().invoke(
        app,
        ["persona", "login", "x", "https://example.com/"],
        env={**amber_env(data_dir), "DISPLAY": "", "WAYLAND_DISPLAY": ""},
    )
    assert done.exit_code == 2 and "needs a display" in done.output


def test_the_login_window_never_opens_in_the_headless_shell(tmp_path: Path) -> None:
    # Given the headless shell as the capture browser (set, or found first)
    shell = tmp_path / "chromium-headless-shell"
    shell.write_text("")
    configured = load_settings(chromium_path=str(shell))
    assert configured.chromium_executable() == str(shell)
    # Then `amber persona login` looks for a browser that can open a window instead
    headed = configured.headed_chromium_executable()
    assert headed is None or "headless" not in Path(headed).name
    # And a full browser set by the operator is used for both
    full = tmp_path / "chromium"
    full.write_text("")
    both = load_settings(chromium_path=str(full))
    assert both.chromium_executable() == both.headed_chromium_executable() == str(full)
