"""Keep tokens out of Amber's own access log.

ArchiveBox clients may send their key as ``?api_key=``; uvicorn's access log
would write it down with the path. This filter rewrites the path in each
access-log record before any handler formats it. (Proxies and other servers in
front of Amber log their own copy: the README says so.)
"""

from __future__ import annotations

import logging
import re

SECRET_PARAMS = re.compile(r"([?&](?:api_key|token|access_token)=)[^&#\s]*", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(path: str) -> str:
    return SECRET_PARAMS.sub(lambda m: m.group(1) + REDACTED, path)


class RedactTokens(logging.Filter):
    """Redact secrets in the query string of uvicorn access records (args[2] is the path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        elif isinstance(record.msg, str) and "=" in record.msg:
            record.msg = redact(record.msg)
        return True


def install(logger_name: str = "uvicorn.access") -> RedactTokens:
    """Attach the filter once (idempotent) and return it."""
    logger = logging.getLogger(logger_name)
    for existing in logger.filters:
        if isinstance(existing, RedactTokens):
            return existing
    found = RedactTokens()
    logger.addFilter(found)
    return found
