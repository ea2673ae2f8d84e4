"""The one place where errors become HTTP responses, in each dialect's own shape.

Handlers are keyed on base classes (AmberError, request validation, Starlette's
HTTPException, anything else). The dialect is the matched route's first tag, or
for unmatched paths the path prefix.
"""

from __future__ import annotations

import html
import logging
import math
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import InterfaceError, OperationalError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crawler.errors import AmberError, PayloadTooLarge

log = logging.getLogger(__name__)

ARCHIVE, DASHBOARDS, CONTENT, SHEETS, NOTES, WEB, REPLAY = (
    "archive",
    "dashboards",
    "content",
    "sheets",
    "notes",
    "web",
    "replay",
)


class Problem:
    """A dialect-neutral error: what went wrong, before it is shaped for the wire."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        field_errors: list[dict[str, Any]] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.field_errors = field_errors or []


Renderer = Callable[[Problem, Request], tuple[int, dict[str, Any] | list[Any]]]


def _archive(problem: Problem, _request: Request) -> tuple[int, Any]:
    if problem.status == 404:
        return 404, {"succeeded": False, "message": problem.message, "errors": []}
    if problem.status == 400 and problem.field_errors:
        return 422, {"detail": problem.field_errors}
    status = 422 if problem.status == 400 else problem.status
    return status, {"detail": problem.message}


def _grafana(problem: Problem, _request: Request) -> tuple[int, Any]:
    status = 400 if problem.status == 422 else problem.status
    return status, {"message": problem.message}


CONTENTFUL_IDS = {
    400: "BadRequest",
    401: "AccessTokenInvalid",
    403: "AccessDenied",
    404: "NotFound",
    409: "VersionMismatch",
    413: "BadRequest",
    422: "ValidationFailed",
    500: "ServerError",
    503: "ServiceUnavailable",
}


CONTENTFUL_DETAILS: dict[str, dict[str, Any]] = {
    "NotFound": {"type": "Resource"},
    "AccessDenied": {"reasons": ["Access denied"]},
}


def _contentful(problem: Problem, request: Request) -> tuple[int, Any]:
    error_id = (
        problem.code
        if problem.code in CONTENTFUL_IDS.values()
        or problem.code in ("InvalidQuery", "UnknownField")
        else CONTENTFUL_IDS.get(problem.status, "BadRequest")
    )
    body: dict[str, Any] = {
        "sys": {"type": "Error", "id": error_id},
        "message": problem.message,
        "details": problem.details
        if problem.details is not None
        else ({"errors": problem.field_errors} if problem.field_errors else {})
        # the official clients read details.type (404) and details.reasons (403)
        or CONTENTFUL_DETAILS.get(error_id, {}),
        "requestId": getattr(request.state, "request_id", uuid.uuid4().hex),
    }
    return problem.status, body


def _flatfile(problem: Problem, _request: Request) -> tuple[int, Any]:
    status = 400 if problem.status == 422 else problem.status
    if problem.field_errors:
        errors = [
            {
                "key": ".".join(str(p) for p in e.get("loc", ())[1:]) or None,
                "message": e.get("msg", problem.message),
            }
            for e in problem.field_errors
        ]
        errors = [{k: v for k, v in e.items() if v is not None} for e in errors]
    elif isinstance(problem.details, list) and problem.details:
        errors = problem.details  # domain errors already shaped as [{key?, message}]
    else:
        errors = [{"message": problem.message}]
    return status, {"errors": errors}


SIDVY_CODES = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND"}


def _sidvy(problem: Problem, _request: Request) -> tuple[int, Any]:
    status = 400 if problem.status == 422 else problem.status
    code = SIDVY_CODES.get(status, "VALIDATION_ERROR" if status < 500 else "INTERNAL_ERROR")
    return status, {"error": code, "message": problem.message}


def _replay(problem: Problem, _request: Request) -> tuple[int, Any]:
    """The replay origin answers inside a page frame: a short message, shown as HTML."""
    return problem.status, {"message": problem.message}


RENDERERS: dict[str, Renderer] = {
    ARCHIVE: _archive,
    WEB: _archive,
    REPLAY: _replay,
    DASHBOARDS: _grafana,
    CONTENT: _contentful,
    SHEETS: _flatfile,
    NOTES: _sidvy,
}

PREFIXES: tuple[tuple[str, str], ...] = (
    ("/api/v1/", ARCHIVE),
    ("/archive/", ARCHIVE),
    ("/v1/", SHEETS),
    ("/spaces/", CONTENT),
    ("/api/notes", NOTES),
    ("/api/snapshot/shared-options", DASHBOARDS),
    ("/api/snapshot", NOTES),
    ("/api/", DASHBOARDS),
)


def dialect_of(request: Request) -> str:
    route = request.scope.get("route")
    tags = getattr(route, "tags", None)
    if tags and tags[0] in RENDERERS:
        return str(tags[0])
    default = getattr(request.app.state, "default_dialect", None)
    if default:
        return str(default)
    path = request.url.path
    if path.startswith("/api/snapshot") and not path.startswith("/api/snapshots"):
        return NOTES if not path.startswith("/api/snapshot/shared-options") else DASHBOARDS
    for prefix, dialect in PREFIXES:
        if path.startswith(prefix):
            return dialect
    return WEB


def _finite(value: Any) -> Any:
    """The body with NaN/Infinity (echoed from bad input) as strings: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def render(problem: Problem, request: Request) -> Response:
    dialect = dialect_of(request)
    status, body = RENDERERS[dialect](problem, request)
    body = _finite(body)
    if dialect == REPLAY:
        return replay_error_page(status, str(problem.message))
    if dialect == WEB and "text/html" in request.headers.get("accept", ""):
        return web_error_page(request, status, str(problem.message))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def web_error_page(request: Request, status: int, message: str) -> Response:
    """A UI page's error as a page of the UI (a browser asked), not as JSON."""
    from api.templating import render as render_page

    context = {"status": status, "message": message}
    return render_page(request, "error.html", context, status_code=status)


def replay_error_page(status: int, message: str) -> HTMLResponse:
    """A plain page for the replay frame; it loads nothing, so it needs no relaxed policy."""
    return HTMLResponse(
        "<!doctype html><meta charset='utf-8'><title>Not in the archive</title>"
        "<body style='font:15px system-ui,sans-serif;margin:2rem;color:#444'>"
        f"<p>{html.escape(message)}</p></body>",
        status_code=status,
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )


def _json_safe(errors: list[Any]) -> list[dict[str, Any]]:
    safe = []
    for error in errors:
        item = {k: v for k, v in dict(error).items() if k in ("type", "loc", "msg")}
        item["loc"] = list(item.get("loc", ()))
        safe.append(item)
    return safe


def _too_large(cause: BaseException | None) -> PayloadTooLarge | None:
    """The size refusal behind a body-read error, even wrapped by a middleware's task group."""
    if isinstance(cause, BaseExceptionGroup):
        found, _ = cause.split(PayloadTooLarge)
        return _too_large(found.exceptions[0]) if found else None
    return cause if isinstance(cause, PayloadTooLarge) else None


class AnswerUnhandled:
    """Answers an exception no handler took, in the dialect's shape, and keeps the connection.

    Starlette's catch-all sends its 500 and then re-raises, and the server then
    closes the kept-alive connection under the client. This middleware (inside
    CORS, so the answer still carries its headers) answers and stops there. An
    exception after the answer started cannot be answered: it still propagates.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            if started:
                raise
            log.exception("unhandled error on %s", scope.get("path"))
            request = Request(scope)
            answer = render(Problem(500, "ServerError", "Internal server error"), request)
            await answer(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AmberError)
    async def _amber(request: Request, exc: AmberError) -> Response:
        if exc.status_code >= 500:
            log.warning("%s on %s: %s", type(exc).__name__, request.url.path, exc.message)
        return render(Problem(exc.status_code, exc.code, exc.message, exc.details), request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = _json_safe(list(exc.errors()))
        if any(e.get("type") == "json_invalid" for e in errors):
            return render(Problem(400, "BadRequest", "Malformed JSON in request body"), request)
        first = errors[0] if errors else {"msg": "invalid request", "loc": []}
        where = ".".join(str(p) for p in first.get("loc", []) if p != "body")
        message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        return render(Problem(422, "ValidationFailed", message, None, errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if cause := _too_large(exc.__cause__):
            return render(Problem(413, cause.code, cause.message), request)
        if exc.status_code == 400:
            message = "Malformed request body"
        elif exc.status_code == 404:
            message = "Not found"
        else:
            message = str(exc.detail)
        return render(Problem(exc.status_code, "HTTPError", message), request)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(request: Request, exc: Exception) -> Response:
        """A lost or unreachable database is a 503 the client can retry, not a 500."""
        log.warning("database unavailable on %s: %s", request.url.path, exc)
        message = "The database is unavailable; try again shortly"
        return render(Problem(503, "Unavailable", message), request)

    @app.exception_handler(UnicodeError)
    async def _bad_text(request: Request, exc: UnicodeError) -> Response:
        """Text no database can store (a lone surrogate from a JSON escape) is bad input."""
        message = "Request holds text that is not valid Unicode (a lone surrogate?)"
        return render(Problem(400, "BadRequest", message), request)

    @app.exception_handler(StatementError)
    async def _statement(request: Request, exc: StatementError) -> Response:
        if isinstance(exc.orig, UnicodeError):
            return await _bad_text(request, exc.orig)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return render(Problem(500, "ServerError", "Internal server error"), request)
