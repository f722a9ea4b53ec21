"""Which failures are worth retrying: connection errors, throttling (429) and server errors (5xx).
Validation and data errors never are."""

from __future__ import annotations

import re

from forecasting.errors import ForecastingError

_TRANSIENT_CODES = {"TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "INTERNAL_ERROR", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"}
_STATUS = re.compile(r"\b(?:status(?: code)?|HTTP|error code)[ :=]*(429|5\d\d)\b", re.IGNORECASE)
_TRANSIENT_TEXT = ("connection refused", "connection reset", "max retries exceeded", "temporarily unavailable",
                   "timed out", "database is locked", "too many requests", "service unavailable", "bad gateway")


def is_transient(exc: BaseException) -> bool:
    """True for errors a retry with backoff can fix; False for anything the user must fix."""
    if isinstance(exc, ForecastingError):
        return bool(getattr(exc, "transient", False))  # only a source that could not be reached
    for err in _chain(exc):
        if isinstance(err, (ConnectionError, TimeoutError)):
            return True
        name = type(err).__name__
        if name in ("ConnectionError", "ConnectTimeout", "ReadTimeout", "NewConnectionError", "ProtocolError",
                    "TooManyRequests", "InternalError", "TemporarilyUnavailable", "DeadlineExceeded", "ServiceUnavailable"):
            return True
        code = getattr(err, "error_code", None)
        if isinstance(code, str) and code in _TRANSIENT_CODES:
            return True
        status = getattr(getattr(err, "response", None), "status_code", None)
        if isinstance(status, int) and (status == 429 or status >= 500):
            return True
        text = str(err).lower()
        if _STATUS.search(str(err)) or any(marker in text for marker in _TRANSIENT_TEXT):
            return True
    return False


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__
