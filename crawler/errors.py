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
    └── BrowserCrashed             Chromium died under us
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
    status_code = 400
    code = "BadRequest"


class PayloadTooLarge(InvalidInput):
    status_code = 413
    code = "PayloadTooLarge"


class Unauthorized(AmberError):
    status_code = 401
    code = "Unauthorized"


class Forbidden(AmberError):
    status_code = 403
    code = "Forbidden"


class NotFound(AmberError):
    status_code = 404
    code = "NotFound"


class Conflict(AmberError):
    status_code = 409
    code = "Conflict"


class Unavailable(AmberError):
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
    pass


class CaptureTimeout(CaptureError):
    pass


class PageTooLarge(CaptureError):
    pass


class BrowserCrashed(CaptureError):
    transient = True
