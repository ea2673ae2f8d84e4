"""The app factory: one FastAPI app that speaks every dialect on one store."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from api import (
    archive,
    content,
    crawls,
    dashboards,
    files,
    fleet,
    notes,
    results,
    schedules,
    sheets,
    tags,
    web,
)
from api.errors import install_error_handlers
from api.limits import BodySizeLimit
from api.state import AppState
from crawler import __version__

# One router per resource or dialect, each in its own module.
ROUTERS = [
    archive.router,
    results.router,
    files.router,
    dashboards.router,
    content.router,
    sheets.router,
    notes.router,
    tags.router,
    crawls.router,
    schedules.router,
    fleet.router,
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
