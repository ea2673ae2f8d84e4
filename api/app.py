"""The app factory: one FastAPI app that speaks every dialect on one store."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from api import (
    api_docs,
    archive,
    archive_auth,
    archive_cli,
    changes,
    content,
    crawls,
    dashboards,
    diffs,
    files,
    fleet,
    lookup,
    notes,
    results,
    schedules,
    sheets,
    tags,
    tokens,
    ui_fleet,
    ui_kinds,
    ui_sheets,
    wacz,
    wayback,
    web,
    web_actions,
    web_add,
    web_auth,
)
from api.errors import AnswerUnhandled, install_error_handlers
from api.limits import BodySizeLimit
from api.openapi_errors import install_error_docs
from api.security_headers import SecurityHeaders
from api.state import AppState
from api.templating import STATIC
from crawler import __version__

# One router per resource or dialect, each in its own module.
ROUTERS = [
    archive.router,
    archive_cli.router,
    archive_auth.router,
    lookup.router,
    results.router,
    files.router,
    wacz.router,
    diffs.router,
    changes.router,
    dashboards.router,
    content.router,
    sheets.router,
    notes.router,
    tags.router,
    crawls.router,
    schedules.router,
    fleet.router,
    tokens.router,
    wayback.router,
    web_auth.router,
    web.router,
    web_actions.router,
    web_add.router,
    ui_fleet.router,
    ui_kinds.router,
    ui_sheets.router,
    api_docs.router,
]

# What browsers may send cross-origin (ArchiveBox's list, for the ArchiveBox clients).
CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CORS_HEADERS = ["Authorization", "X-ArchiveBox-API-Key", "Content-Type", "X-CSRFToken"]


class AmberApp(FastAPI):
    """FastAPI with the security headers outside everything, Starlette's 500 page included
    (user middleware sits inside ServerErrorMiddleware, so it would miss those answers)."""

    def build_middleware_stack(self) -> Any:
        return SecurityHeaders(super().build_middleware_stack())


def create_app(state: AppState) -> FastAPI:
    app = AmberApp(
        title="Amber",
        version=__version__,
        description="Self-hosted web archive: ArchiveBox, Grafana, Contentful, Flatfile and "
        "Sidvy snapshot dialects on one store.",
        docs_url=None,  # api.api_docs serves Swagger UI from its vendored copy
        redoc_url=None,
    )
    app.state.amber = state
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    install_error_docs(app)

    @app.middleware("http")
    async def _request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.request_id = uuid.uuid4().hex
        response = await call_next(request)
        response.headers["X-Request-Id"] = request.state.request_id
        return response

    app.add_middleware(BodySizeLimit, max_bytes=state.settings.max_body_bytes)
    app.add_middleware(AnswerUnhandled)
    # Outermost, so preflights and error answers are handled too. No origins: CORS off
    # (a preflight gets 400, answers carry no Access-Control-* headers).
    app.add_middleware(
        CORSMiddleware,
        allow_origins=state.settings.cors_origins,
        allow_methods=CORS_METHODS,
        allow_headers=CORS_HEADERS,
        max_age=600,
    )
    return app


def create_asgi(state: AppState) -> Callable[..., Awaitable[None]]:
    """Amber's app and the replay app in one server, told apart by port or host name.

    The replay origin must not share Amber's origin; one process still serves both
    (two listening sockets, or two host names behind a proxy).
    """
    from api.replay.app import create_replay_app
    from api.replay.origin import is_replay_request

    main = create_app(state)
    replay = create_replay_app(state)

    async def dispatch(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            host = next(
                (v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), ""
            )
            if is_replay_request(scope.get("server"), host, state):
                await replay(scope, receive, send)
                return
        await main(scope, receive, send)

    return dispatch
