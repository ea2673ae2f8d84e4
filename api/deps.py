"""FastAPI dependencies shared by every router: the store session, the caller, the state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlmodel import Session

from api.state import AppState
from crawler.auth import Principal, authenticate
from crawler.errors import Forbidden, InvalidInput
from crawler.users import SignedIn, resume_session


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.amber
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A session per request; routes commit explicitly before dispatching work."""
    with Session(state.engine, expire_on_commit=False) as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return None


def archivebox_token(request: Request) -> str | None:
    """ArchiveBox also takes X-ArchiveBox-API-Key and ?api_key=."""
    return (
        bearer_token(request)
        or request.headers.get("x-archivebox-api-key")
        or request.query_params.get("api_key")
    )


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def within_scope(request: Request, principal: Principal) -> Principal:
    """A read-only token may look but not touch: anything but GET/HEAD/OPTIONS is a 403."""
    if principal.read_only and request.method.upper() not in READ_METHODS:
        raise Forbidden("This API token is read-only", code="ReadOnlyToken")
    return principal


def current_principal(request: Request, session: SessionDep) -> Principal:
    return within_scope(request, authenticate(session, bearer_token(request)))


def archive_principal(request: Request, session: SessionDep) -> Principal:
    return within_scope(request, authenticate(session, archivebox_token(request)))


SESSION_COOKIE = "amber_session"


def web_session(request: Request, session: SessionDep) -> SignedIn | None:
    """The signed-in browser behind the session cookie (crawler.users), if any.

    Kept on ``request.state`` too, so every template can put the session's CSRF
    token in the sign-out form (api.templating's context processor).
    """
    signed = resume_session(session, request.cookies.get(SESSION_COOKIE))
    request.state.signed = signed
    return signed


WebSessionDep = Annotated[SignedIn | None, Depends(web_session)]


def browser_principal(request: Request, session: SessionDep) -> Principal:
    """Pages and archived files: a signed-in web session, or any API token form.

    A route that changes state through the session must also check its CSRF
    token (api.web_auth.check_csrf); API routes never read the session cookie.
    """
    signed = web_session(request, session)
    if signed is not None:
        return within_scope(request, signed.principal)
    return within_scope(request, authenticate(session, archivebox_token(request)))


PrincipalDep = Annotated[Principal, Depends(current_principal)]
BrowserPrincipalDep = Annotated[Principal, Depends(browser_principal)]
ArchivePrincipalDep = Annotated[Principal, Depends(archive_principal)]


# Query parameters every route takes besides its own: the token (archivebox_token).
ALWAYS_KNOWN = frozenset({"api_key"})


def _query_names(route: Any) -> frozenset[str]:
    """The query parameters a route and its dependencies declare (a short walk; routes
    are not hashable, so it is not cached)."""
    names, todo = set(ALWAYS_KNOWN), [route.dependant]
    while todo:
        dependant = todo.pop()
        names.update(param.alias for param in dependant.query_params)
        todo.extend(dependant.dependencies)
    return frozenset(names)


def known_query_only(request: Request) -> None:
    """A list route refuses a filter it does not know instead of ignoring it.

    An ignored filter would answer with everything, which a client takes for
    "these match"; a 422 naming the parameter says what went wrong.
    """
    route = request.scope.get("route")
    if route is None:
        return
    known = _query_names(route)
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in known]
    if unknown:
        names = ", ".join(unknown)
        raise InvalidInput(
            f"Unknown filter parameter{'s' if len(unknown) > 1 else ''}: {names}",
            code="UnknownField",
            details={"unknown": unknown},
        )


KnownQueryOnly = Depends(known_query_only)
