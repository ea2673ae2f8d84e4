"""The app factory: one FastAPI app that speaks every dialect on one store."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from api import archive, files, wacz
from api.errors import install_error_handlers
from api.limits import BodySizeLimit
from api.state import AppState
from api.templating import STATIC
from crawler import __version__

ROUTERS = [archive.router, files.router, wacz.router]


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
    for extra in _optional_routers():
        app.include_router(extra)
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


def _optional_routers() -> list:  # type: ignore[type-arg]
    """Routers that other modules contribute (dialects, fleet, UI), each in its own module."""
    import importlib

    found = []
    for name in (
        "api.dashboards",
        "api.content",
        "api.sheets",
        "api.notes",
        "api.tags",
        "api.crawls",
        "api.fleet",
        "api.wayback",
        "api.web",
        "api.diffs",
        "api.changes",
    ):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        found.append(module.router)
    return found


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
