"""Amber's exceptions. Each dialect renders them in its own error shape (api/errors.py).

AmberError
├── InvalidInput          400/422  bad URL, bad field, bad query
│   └── PayloadTooLarge   413
├── Unauthorized          401      missing or wrong token
├── Forbidden             403      authenticated but not allowed
├── NotFound              404      unknown id, or another tenant's id
├── Conflict              409      stale version, duplicate key
├── Unavailable           503      a backing service is down
└── CaptureError                   a capture went wrong (never reaches HTTP)
    ├── FetchRefused               scheme or address not allowed
    ├── CaptureTimeout             the page exceeded its time budget
    ├── PageTooLarge               the page exceeded its byte budget
    ├── BrowserCrashed             Chromium died under us
    └── StorageFull                no space left to store the capture
"""

from __future__ import annotations

from typing import Any


class AmberError(Exception):
    """Base of everything Amber raises on purpose."""

    status_code = 500
    code = "ServerError"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class InvalidInput(AmberError):
    """A bad URL, field or query (400, or 422 where the dialect says so)."""

    status_code = 400
    code = "BadRequest"


class PayloadTooLarge(InvalidInput):
    """The request body is larger than AMBER_MAX_BODY_BYTES."""

    status_code = 413
    code = "PayloadTooLarge"


class Unauthorized(AmberError):
    """No token, or a token Amber does not know."""

    status_code = 401
    code = "Unauthorized"


class Forbidden(AmberError):
    """A known caller asking for something it may not do."""

    status_code = 403
    code = "Forbidden"


class NotFound(AmberError):
    """An unknown id, or another tenant's: the two are never told apart."""

    status_code = 404
    code = "NotFound"


class Conflict(AmberError):
    """A write against a stale version, or a key that is already taken."""

    status_code = 409
    code = "Conflict"


class Unavailable(AmberError):
    """A backing service (database, broker, blob store) cannot be reached."""

    status_code = 503
    code = "Unavailable"


class CaptureError(AmberError):
    """A capture failed; the message becomes the snapshot's failure reason.

    `transient` failures (a crashed browser, a reset connection) are retried with
    backoff; the rest fail the snapshot at once.
    """

    transient = False

    def __init__(self, message: str, *, transient: bool | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        if transient is not None:
            self.transient = transient


class FetchRefused(CaptureError):
    """The URL's scheme or address is outside the fetch allow-list."""


class CaptureTimeout(CaptureError):
    """The page did not load within its time budget."""


class PageTooLarge(CaptureError):
    """The page's traffic exceeded its byte budget."""


class BrowserCrashed(CaptureError):
    """Chromium died under the capture; retried, on a relaunched browser."""

    transient = True


class StorageFull(CaptureError):
    """The data disk (spool or blobs) is full; what was stored before stays intact.

    Retried with backoff like other transient failures: space may be freed.
    """

    transient = True
