"""FastAPI dependencies shared by every router: the store session, the caller, the state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from api.state import AppState
from crawler.auth import Principal, authenticate


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


def current_principal(request: Request, session: SessionDep) -> Principal:
    return authenticate(session, bearer_token(request))


def archive_principal(request: Request, session: SessionDep) -> Principal:
    return authenticate(session, archivebox_token(request))


WEB_COOKIE = "amber_token"


def browser_principal(request: Request, session: SessionDep) -> Principal:
    """For GET pages and archived files only: the web UI's cookie, or any API token form.

    The cookie is HttpOnly and SameSite=Strict and never accepted on a route that
    changes state, so it cannot be used for cross-site request forgery.
    """
    return authenticate(session, request.cookies.get(WEB_COOKIE) or archivebox_token(request))


PrincipalDep = Annotated[Principal, Depends(current_principal)]
BrowserPrincipalDep = Annotated[Principal, Depends(browser_principal)]
ArchivePrincipalDep = Annotated[Principal, Depends(archive_principal)]
