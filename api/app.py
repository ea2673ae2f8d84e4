"""The app factory: one FastAPI app that speaks every dialect on one store."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from api import (
    archive,
    changes,
    content,
    crawls,
    dashboards,
    diffs,
    files,
    fleet,
    notes,
    results,
    schedules,
    sheets,
    tags,
    wacz,
    wayback,
    web,
)
from api.errors import install_error_handlers
from api.limits import BodySizeLimit
from api.state import AppState
from api.templating import STATIC
from crawler import __version__

# One router per resource or dialect, each in its own module.
ROUTERS = [
    archive.router,
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
    wayback.router,
    web.router,
]


def create_app(state: AppState) -> FastAPI:
    app = FastAPI(
        title="Amber",
        version=__version__,
        description="Self-hosted web archive: ArchiveBox, Grafana, Contentful, Flatfile and "
        "Sidvy snapshot dialects on one store.",
    )
    app.state.amber = state
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.middleware("http")
    async def _request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.request_id = uuid.uuid4().hex
        response = await call_next(request)
        response.headers["X-Request-Id"] = request.state.request_id
        return response

    app.add_middleware(BodySizeLimit, max_bytes=state.settings.max_body_bytes)
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
