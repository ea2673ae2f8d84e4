"""Tokens that expire, can be revoked and can be read-only; the admin token rotating;
security headers; /docs without a CDN; /metrics for admins; no token in the access log.

One in-process `uvicorn` serves Amber's app over real HTTP on 127.0.0.1 (no
workers: nothing here captures), so settings such as AMBER_METRICS_TOKEN can be
chosen per module without starting another `amber serve`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.responses import Response

from api import access_log
from api.app import create_app
from api.security_headers import SecurityHeaders
from api.state import AppState
from crawler.auth import authenticate, issue_token
from crawler.clock import utcnow
from crawler.db import open_store
from crawler.errors import Unauthorized
from crawler.settings import load_settings
from tests.conftest import run_amber
from tests.services import free_port

ADMIN = "rotating-admin-token-one-0123456789"
METRICS = "metrics-only-token-0123456789"


@dataclass
class Served:
    url: str
    engine: Engine
    env: dict[str, str]
    access: list[str]


class Remember(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__()
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("tokens")
    settings = load_settings(data_dir=data_dir, admin_token=ADMIN, metrics_token=METRICS)
    engine, blobs = open_store(settings)
    app = create_app(AppState(settings=settings, engine=engine, blobs=blobs))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info", access_log=True)
    access_log.install()
    access: list[str] = []
    remember = Remember(access)
    logging.getLogger("uvicorn.access").addHandler(remember)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        if server.started:
            break
        threading.Event().wait(0.05)
    env = {"AMBER_DATA_DIR": str(data_dir), "AMBER_ADMIN_TOKEN": ADMIN}
    yield Served(url=url, engine=engine, env=env, access=access)
    server.should_exit = True
    thread.join(timeout=10)
    logging.getLogger("uvicorn.access").removeHandler(remember)
    engine.dispose()


def make_token(served: Served, user: str, **options: object) -> str:
    """In-process, as `amber token create` does (each CLI run costs seconds on a busy box)."""
    with Session(served.engine) as session:
        token, _ = issue_token(session, user, **options)  # type: ignore[arg-type]
        session.commit()
    return token


def test_tokens_list_revoke_expire_and_read_only(served: Served) -> None:
    # Given a user's ordinary token, a read-only one and one that will expire
    writer = make_token(served, "tok-ann")
    reader = make_token(served, "tok-ann", scope="read")
    expiring = make_token(served, "tok-bob", expires_at=utcnow() + timedelta(days=30))
    api = httpx.Client(base_url=served.url, timeout=30)
    bearer = {"Authorization": f"Bearer {ADMIN}"}

    # When `amber token list` runs
    listed = run_amber(served.env, "token", "list")
    assert listed.returncode == 0, listed.stderr
    lines = [line.split("\t") for line in listed.stdout.strip().splitlines()]
    # Then each token is one line, its id first and its user second, and no secret shows
    users = [fields[1] for fields in lines]
    assert users.count("tok-ann") == 2 and users.count("tok-bob") == 1 and "admin" in users
    assert all(len(fields[0]) >= 20 for fields in lines)
    for secret in (writer, reader, expiring, ADMIN):
        assert secret not in listed.stdout
    ann_read = next(f for f in lines if f[1] == "tok-ann" and f[2] == "read")
    bob = next(f for f in lines if f[1] == "tok-bob")
    assert bob[5] != "never"

    # And the read-only token reads everywhere, while every dialect refuses its writes
    # with 403 in that dialect's own shape
    as_reader = {"Authorization": f"Bearer {reader}"}
    assert api.get("/api/v1/core/snapshots", headers=as_reader).status_code == 200
    assert api.get("/api/v1/tokens", headers=as_reader).status_code == 200
    refused = {
        "archive": api.post("/api/v1/cli/add", headers=as_reader, json={"urls": []}),
        "archive ?api_key=": api.post("/api/v1/cli/add", params={"api_key": reader}, json={}),
        "grafana": api.post("/api/snapshots", headers=as_reader, json={}),
        "sidvy": api.post("/api/notes", headers=as_reader, json={}),
        "flatfile": api.post("/v1/workbooks", headers=as_reader, json={}),
        "contentful": api.post("/spaces/s/environments/master/entries", headers=as_reader, json={}),
        "tokens": api.delete(f"/api/v1/tokens/{ann_read[0]}", headers=as_reader),
    }
    for dialect, answer in refused.items():
        assert answer.status_code == 403, (dialect, answer.text)
        assert "read-only" in answer.text, (dialect, answer.text)
    assert refused["archive"].json() == {"detail": "This API token is read-only"}
    assert refused["grafana"].json() == {"message": "This API token is read-only"}
    assert refused["sidvy"].json()["error"]
    assert refused["contentful"].json()["sys"]["id"] == "AccessDenied"
    # And the writer's token may write
    added = api.post("/api/v1/cli/add", headers={"Authorization": f"Bearer {writer}"}, json={})
    assert added.status_code != 403

    # When a user lists tokens over the API, Then only their own show; an admin sees all
    mine = api.get("/api/v1/tokens", headers={"Authorization": f"Bearer {writer}"}).json()
    assert {t["username"] for t in mine["items"]} == {"tok-ann"} and mine["count"] == 2
    everyone = api.get("/api/v1/tokens", headers=bearer).json()
    assert {"tok-ann", "tok-bob", "admin"} <= {t["username"] for t in everyone["items"]}
    assert all("token" not in t and "token_hash" not in t for t in everyone["items"])
    # And a user cannot revoke another user's token (it does not exist for them)
    other = api.delete(f"/api/v1/tokens/{bob[0]}", headers={"Authorization": f"Bearer {writer}"})
    assert other.status_code == 404

    # When the read-only token is revoked with the CLI, Then it stops working at once
    revoked = run_amber(served.env, "token", "revoke", ann_read[0])
    assert revoked.returncode == 0, revoked.stderr
    gone = api.get("/api/v1/core/snapshots", headers=as_reader)
    assert gone.status_code == 401 and "revoked" in gone.json()["detail"]
    # And an admin revokes bob's over the API
    dropped = api.delete(f"/api/v1/tokens/{bob[0]}", headers=bearer)
    assert dropped.status_code == 200 and dropped.json()["revoked_at"]
    assert (
        api.get("/api/v1/core/tags", headers={"Authorization": f"Bearer {expiring}"}).status_code
        == 401
    )
    # And lists show them as revoked
    states = {t["id"]: t for t in api.get("/api/v1/tokens", headers=bearer).json()["items"]}
    assert states[ann_read[0]]["revoked_at"] and not states[ann_read[0]]["active"]

    # When an admin issues a read-only token that expires, over the API
    issued = api.post(
        "/api/v1/tokens",
        headers=bearer,
        json={
            "user": "tok-cy",
            "scope": "read",
            "expires_at": (utcnow() + timedelta(days=1)).isoformat(),
        },
    )
    assert issued.status_code == 201, issued.text
    cy = issued.json()
    as_cy = {"Authorization": f"Bearer {cy['token']}"}
    assert api.get("/api/v1/core/snapshots", headers=as_cy).status_code == 200
    # And its expiry passes (moved into the past in the store, rather than waited for)
    with served.engine.begin() as conn:
        conn.execute(
            text("UPDATE apitoken SET expires_at = :t WHERE id = :i"),
            {"t": utcnow() - timedelta(seconds=1), "i": cy["id"]},
        )
    # Then it answers 401, saying why
    expired = api.get("/api/v1/core/snapshots", headers=as_cy)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    # And a non-admin cannot issue tokens for someone else, nor an expiry in the past
    assert (
        api.post(
            "/api/v1/tokens", headers={"Authorization": f"Bearer {writer}"}, json={"user": "x"}
        ).status_code
        == 403
    )
    past = api.post("/api/v1/tokens", headers=bearer, json={"expires_at": "2000-01-01T00:00:00Z"})
    assert past.status_code == 422 and "future" in past.text
    api.close()


def test_changing_the_admin_token_retires_the_old_one(tmp_path: Path) -> None:
    # Given a store started with one AMBER_ADMIN_TOKEN, and a token an admin made by hand
    first = load_settings(data_dir=tmp_path, admin_token="first-admin-token-000000")
    engine, _ = open_store(first)
    with Session(engine) as session:
        by_hand, _ = issue_token(session, "admin", admin=True)
        session.commit()
        assert authenticate(session, "first-admin-token-000000").is_admin
    engine.dispose()
    # When it starts again with a new value
    second = load_settings(data_dir=tmp_path, admin_token="second-admin-token-00000")
    engine, _ = open_store(second)
    with Session(engine) as session:
        # Then the new one works, the old one does not, and the hand-made one is untouched
        assert authenticate(session, "second-admin-token-00000").is_admin
        with pytest.raises(Unauthorized, match="revoked"):
            authenticate(session, "first-admin-token-000000")
        assert authenticate(session, by_hand).is_admin
    engine.dispose()


def test_headers_docs_metrics_and_access_log(served: Served) -> None:
    api = httpx.Client(base_url=served.url, timeout=30)
    bearer = {"Authorization": f"Bearer {ADMIN}"}
    # Every answer of Amber's origin carries the security headers: JSON, errors, pages
    for path in ("/api/v1/core/snapshots", "/healthz", "/no/such/path", "/docs", "/openapi.json"):
        answer = api.get(path, headers=bearer)
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["referrer-policy"] == "same-origin", path
        # (pages of the UI and Swagger UI are stricter: no framing at all)
        assert answer.headers["x-frame-options"] in ("SAMEORIGIN", "DENY"), path
        policy = answer.headers["content-security-policy"]
        assert "frame-ancestors 'self'" in policy or "frame-ancestors 'none'" in policy, path
    # And a page with its own policy keeps it whole (not overwritten by the default)
    own = "default-src 'self'; frame-ancestors 'none'"

    async def page(scope: Any, receive: Any, send: Any) -> None:
        await Response("<p>hi</p>", headers={"Content-Security-Policy": own})(scope, receive, send)

    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=SecurityHeaders(page))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/")

    wrapped = asyncio.run(fetch())
    assert wrapped.headers["content-security-policy"] == own
    assert wrapped.headers["x-content-type-options"] == "nosniff"
    # /docs and the ArchiveBox docs load Swagger UI from Amber itself, never a CDN
    for path in ("/docs", "/api/v1/docs"):
        docs = api.get(path).text
        assert "/static/swagger-ui/swagger-ui-bundle.js" in docs
        for cdn in ("cdn.jsdelivr", "unpkg", "cdnjs", "https://"):
            assert cdn not in docs, (path, cdn)
    assert api.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200

    # /metrics: no token 401; a user 403; an admin or the metrics token 200
    user = make_token(served, "metrics-user")
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", headers={"Authorization": f"Bearer {user}"}).status_code == 403
    assert "amber_queue_depth" in api.get("/metrics", headers=bearer).text
    scraped = api.get("/metrics", headers={"Authorization": f"Bearer {METRICS}"})
    assert scraped.status_code == 200 and "amber_queue_depth" in scraped.text
    # And the metrics token opens nothing else
    assert (
        api.get(
            "/api/v1/core/snapshots", headers={"Authorization": f"Bearer {METRICS}"}
        ).status_code
        == 401
    )

    # ?api_key= still works, and never reaches Amber's own access log
    served.access.clear()
    keyed = api.get("/api/v1/core/tags", params={"api_key": ADMIN, "limit": 5})
    assert keyed.status_code == 200
    for _ in range(100):
        if any("/api/v1/core/tags" in line for line in served.access):
            break
        threading.Event().wait(0.05)
    logged = [line for line in served.access if "/api/v1/core/tags" in line]
    assert logged and ADMIN not in " ".join(served.access)
    assert "api_key=[redacted]" in logged[0] and "limit=5" in logged[0]
    assert os.environ.get("AMBER_ADMIN_TOKEN") != ADMIN  # nothing leaked into our env either
    api.close()
