"""Signing in to the web UI: password login, server-side sessions, CSRF, API tokens.

CSRF follows Django's pattern, so ArchiveBox's login-based clients feel at home:
every form carries ``csrfmiddlewaretoken`` (or the ``X-CSRFToken`` header). For a
signed-in browser it must equal the token stored with its session row (so it is
bound to the session); on the sign-in form, where there is no session yet, it
must equal the ``csrftoken`` cookie (double submit). Independently, a POST whose
``Origin`` (or ``Sec-Fetch-Site``) says it came from another site is refused.
The one exception is ``POST /add/`` from a browser extension (``chrome-extension://``
and friends): no web page can send such an Origin, and ArchiveBox's extension
posts that form without a token, with the signed-in session's cookie.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import SESSION_COOKIE, SessionDep, StateDep, WebSessionDep
from api.errors import WEB
from api.templating import render
from crawler.auth import issue_token
from crawler.errors import Forbidden, Unauthorized
from crawler.models import User
from crawler.users import SignedIn, check_login, end_session, revoke_token, start_session
from crawler.users import user_tokens as list_user_tokens

router = APIRouter(tags=[WEB], include_in_schema=False)

CSRF_COOKIE = "csrftoken"
CSRF_FIELD = "csrfmiddlewaretoken"
CSRF_HEADER = "x-csrftoken"
EXTENSION_SCHEMES = ("chrome-extension:", "moz-extension:", "safari-web-extension:")


class CsrfFailed(Forbidden):
    code = "CsrfFailed"


def is_https(request: Request) -> bool:
    """Behind a TLS-terminating proxy the scheme arrives in X-Forwarded-Proto."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def _own_origins(request: Request, state: Any) -> set[str]:
    host = request.headers.get("host", "")
    origins = {f"http://{host}", f"https://{host}"}
    base = state.settings.base_url
    if base:
        parts = urlsplit(base)
        origins.add(f"{parts.scheme}://{parts.netloc}")
    return origins


def request_origin(request: Request, state: Any) -> str:
    """``same``, ``extension`` or ``foreign``: where a POST came from, as the browser says."""
    origin = request.headers.get("origin")
    if origin:
        if origin.startswith(EXTENSION_SCHEMES):
            return "extension"
        return "same" if origin in _own_origins(request, state) else "foreign"
    fetch_site = request.headers.get("sec-fetch-site", "")
    return "foreign" if fetch_site in ("cross-site", "same-site") else "same"


async def check_csrf(
    request: Request, state: Any, signed: SignedIn | None, *, allow_extension: bool = False
) -> None:
    """Refuse a state-changing request that did not come from one of Amber's own forms."""
    where = request_origin(request, state)
    if where == "foreign" or (where == "extension" and not allow_extension):
        raise CsrfFailed("This request came from another site, so it was refused.")
    if where == "extension":
        return
    form = await request.form()
    sent = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
    expected = signed.csrf_token if signed else request.cookies.get(CSRF_COOKIE, "")
    if not expected or not sent or not secrets.compare_digest(sent, expected):
        raise CsrfFailed("This form has expired or came from another site; reload and retry.")


def page(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    signed: SignedIn | None,
    status_code: int = 200,
) -> HTMLResponse:
    """A UI page with who is signed in and the CSRF token its forms carry."""
    csrf = signed.csrf_token if signed else request.cookies.get(CSRF_COOKIE) or ""
    if not csrf or len(csrf) > 100:
        csrf = secrets.token_urlsafe(32)
    full = {
        "user": signed.principal.username if signed else None,
        "is_admin": bool(signed and signed.principal.is_admin),
        "csrf_token": csrf,
        "path": request.url.path,
        **(context or {}),
    }
    response = render(request, name, full, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    if request.cookies.get(CSRF_COOKIE) != csrf:
        _set_csrf_cookie(request, response, csrf)
    return response


def _set_csrf_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        CSRF_COOKIE, value, samesite="lax", secure=is_https(request), max_age=86400 * 365
    )


def local_target(target: str) -> str:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    ok = target.startswith("/") and not target.startswith(("//", "/\\"))
    return target if ok else "/"


def to_login(request: Request) -> RedirectResponse:
    """Where an anonymous visitor of a page is sent; they come back after signing in."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    suffix = "" if target == "/" else f"?next={quote(target, safe='')}"
    return RedirectResponse(f"/login{suffix}", status_code=303)


@router.get("/login", response_model=None)
def login_page(
    request: Request,
    signed: WebSessionDep,
    next: Annotated[str, Query(max_length=2000)] = "/",
) -> Response:
    if signed is not None:
        return RedirectResponse(local_target(next), status_code=303)
    return page(request, "login.html", {"next": local_target(next)}, signed=None)


@router.post("/login", response_model=None)
async def login(
    request: Request,
    session: SessionDep,
    state: StateDep,
    signed: WebSessionDep,
    username: Annotated[str, Form(max_length=150)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    await check_csrf(request, state, None)
    try:
        user = check_login(session, username, password)
    except Unauthorized as exc:
        session.rollback()
        context = {"next": local_target(next), "error": exc.message, "username": username}
        return page(request, "login.html", context, signed=None, status_code=401)
    end_session(session, request.cookies.get(SESSION_COOKIE))
    lifetime = timedelta(hours=state.settings.session_hours)
    session_id, csrf = start_session(session, user, lifetime=lifetime)
    session.commit()
    response = RedirectResponse(local_target(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        max_age=int(lifetime.total_seconds()),
    )
    _set_csrf_cookie(request, response, csrf)  # Django rotates it at sign-in, too
    return response


@router.get("/logout", response_model=None)
def logout_page(request: Request, signed: WebSessionDep) -> Response:
    """GET never changes state: it shows the sign-out button."""
    if signed is None:
        return RedirectResponse("/login", status_code=303)
    return page(request, "logout.html", signed=signed)


@router.post("/logout", response_model=None)
async def logout(
    request: Request, session: SessionDep, state: StateDep, signed: WebSessionDep
) -> Response:
    if signed is not None:
        await check_csrf(request, state, signed)
    end_session(session, request.cookies.get(SESSION_COOKIE))
    session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/tokens", response_model=None)
def tokens_page(request: Request, session: SessionDep, signed: WebSessionDep) -> Response:
    if signed is None:
        return to_login(request)
    rows = list_user_tokens(session, signed.principal.user_id)
    return page(request, "tokens.html", {"tokens": rows}, signed=signed)


@router.post("/tokens", response_model=None)
async def create_token_form(
    request: Request, session: SessionDep, state: StateDep, signed: WebSessionDep
) -> Response:
    if signed is None:
        return to_login(request)
    await check_csrf(request, state, signed)
    user = session.get(User, signed.principal.user_id)
    assert user is not None
    plaintext, _ = issue_token(session, user.username)
    session.commit()
    rows = list_user_tokens(session, signed.principal.user_id)
    return page(request, "tokens.html", {"tokens": rows, "new_token": plaintext}, signed=signed)


@router.post("/tokens/{token_id}/revoke", response_model=None)
async def revoke_token_form(
    token_id: str, request: Request, session: SessionDep, state: StateDep, signed: WebSessionDep
) -> Response:
    if signed is None:
        return to_login(request)
    await check_csrf(request, state, signed)
    revoke_token(session, signed.principal.user_id, token_id)
    session.commit()
    return RedirectResponse("/tokens", status_code=303)


# ArchiveBox's admin links (the browser extension opens them) lead to Amber's pages.
ADMIN_PAGES = {
    "/admin": "/",
    "/admin/": "/",
    "/admin/login/": "/login",
    "/admin/core/snapshot/": "/",
    "/admin/api/apitoken/": "/tokens",
    "/admin/api/apitoken/add/": "/tokens",
}


def _admin_redirect(target: str) -> Any:
    def redirect(request: Request) -> RedirectResponse:
        next_url = request.query_params.get("next")
        if target == "/login" and next_url:
            return RedirectResponse(f"/login?next={quote(local_target(next_url), safe='')}", 303)
        return RedirectResponse(target, status_code=302)

    return redirect


for _path, _target in ADMIN_PAGES.items():
    router.add_api_route(_path, _admin_redirect(_target), methods=["GET"], response_model=None)
