"""Fixtures: the local test site, real Redis/PostgreSQL, and `amber serve` over real HTTP."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.services import (
    QUICK_SETTLE_ENV,
    VENV_BIN,
    AmberServer,
    PostgresServer,
    RedisServer,
)
from tests.site import TestSite

ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN_PASSWORD = "test-admin-password-0123"
IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def site() -> Iterator[TestSite]:
    server = TestSite().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


def amber_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment every Amber process in the tests gets."""
    return {
        "AMBER_DATA_DIR": str(data_dir),
        "AMBER_ALLOWED_NETWORKS": "127.0.0.1/32",
        "AMBER_ADMIN_TOKEN": ADMIN_TOKEN,
        "AMBER_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "AMBER_CAPTURE_TIMEOUT": "15",
        "AMBER_RECONCILE_INTERVAL": "1",
        "AMBER_MAX_ATTEMPTS": "2",
        "AMBER_RETRY_BACKOFF": "0.5",
        "AMBER_WORKER_THREADS": "2",  # what the tests were written for
        **QUICK_SETTLE_ENV,
        **extra,
    }


@contextlib.contextmanager
def web_sign_in(
    base_url: str, username: str = "admin", password: str = ADMIN_PASSWORD
) -> Iterator[httpx.Client]:
    """A client signed in to the web UI the way a browser is: sign-in form, CSRF, cookie."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        form = client.get("/login")
        token = form.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        done = client.post(
            "/login",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        )
        assert done.status_code == 303, done.text
        yield client


def run_amber(
    env: dict[str, str], *args: str, timeout: float = 180, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `amber` console script."""
    return subprocess.run(
        [str(VENV_BIN / "amber"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input_text,
    )


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def api_server(
    store_kind: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[AmberServer]:
    """`amber serve` (embedded workers) on SQLite, and again on PostgreSQL."""
    data_dir = tmp_path_factory.mktemp(f"serve-{store_kind}")
    extra: dict[str, str] = {}
    if store_kind == "postgres":
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        extra["AMBER_DATABASE_URL"] = pg.create_database("api_suite")
    server = AmberServer(env=amber_env(data_dir, **extra)).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AmberServer]:
    """One embedded `amber serve` on SQLite, for tests that need only one store."""
    server = AmberServer(env=amber_env(tmp_path_factory.mktemp("serve-one"))).start()
    yield server
    server.stop()


@pytest.fixture
def admin_client(api_server: AmberServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=api_server.url, timeout=30, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as client:
        yield client


TokenFactory = Callable[..., str]


def _token_factory(server: AmberServer) -> TokenFactory:
    def make(user: str, *, admin: bool = False, workspace: str = "") -> str:
        args = ["token", "create", "--user", user]
        if admin:
            args.append("--admin")
        if workspace:
            args += ["--workspace", workspace]
        done = run_amber(server.env, *args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    return make


@pytest.fixture
def make_token(api_server: AmberServer) -> TokenFactory:
    """Create a user (with its own workspace) and return a bearer token for it."""
    return _token_factory(api_server)


@pytest.fixture
def sqlite_token(sqlite_server: AmberServer) -> TokenFactory:
    return _token_factory(sqlite_server)


def pytest_report_header(config: pytest.Config) -> str:
    return f"amber tests: python {sys.version.split()[0]}, CI={IN_CI}"
