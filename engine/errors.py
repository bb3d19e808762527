"""The one exception hierarchy of Sanyi.

Every refusal a client can get is a :class:`SanyiError` with an HTTP status and a stable
machine-readable ``code`` (and the offending ``field`` where there is one). One handler in
``engine.app`` renders them as :func:`problem` bodies; anything else is a 500 with no detail, so
no traceback reaches a client.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import ClassVar

#: A problem's ``type`` is this prefix and its ``code``: a name, not a page to fetch.
PROBLEM_TYPE_PREFIX = "urn:sanyi:problem:"


def problem(status: int, code: str, message: str, field: str | None = None) -> dict[str, object]:
    """The one refusal body: RFC 9457 problem details (``type``, ``title``, ``status``,
    ``detail``) with Sanyi's own ``code``, ``message`` (the same text as ``detail``) and
    ``field``, so clients of either convention read it."""
    return {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": message,
        "code": code,
        "message": message,
        "field": field,
    }


class SanyiError(Exception):
    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field

    def as_dict(self) -> dict[str, object]:
        return problem(self.status, self.code, self.message, self.field)

    def headers(self) -> dict[str, str]:
        """HTTP headers the refusal carries besides its body."""
        return {}


class InvalidRequest(SanyiError):
    """The request is well-formed but breaks a rule (a bad code, a price above the tariff...)."""

    status = 400
    default_code = "invalid_request"


class Unauthenticated(SanyiError):
    status = 401
    default_code = "unauthenticated"


class Forbidden(SanyiError):
    status = 403
    default_code = "forbidden"


class NotFound(SanyiError):
    """Also used where telling 'exists but not yours' from 'does not exist' would leak."""

    status = 404
    default_code = "not_found"


class Conflict(SanyiError):
    """The object's state forbids the change (settled twice, already locked, overlapping
    versions) or an idempotency key was reused with another body."""

    status = 409
    default_code = "conflict"


class TooManyRequests(SanyiError):
    """Refused until ``retry_after`` seconds have passed (sent as ``Retry-After``)."""

    status = 429
    default_code = "too_many_requests"

    def __init__(
        self, message: str, *, retry_after: int, code: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message, code=code, field=field)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Unavailable(SanyiError):
    """A dependency is out of reach for now; nothing was changed, and the same request may be
    sent again after ``retry_after`` seconds (the ``Retry-After`` header)."""

    status = 503
    default_code = "unavailable"
    retry_after: ClassVar[int] = 2

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class DatabaseUnavailable(Unavailable):
    """The database did not answer within the request's bounds (connect, pool checkout,
    statement, or the unit of work's deadline), or the connection broke under the request."""

    default_code = "database_unavailable"

    def __init__(self, message: str = "the database is unavailable; retry later") -> None:
        super().__init__(message)
