"""One clean answer to an exception no handler took, on a connection that stays usable.

Starlette's outermost ``ServerErrorMiddleware`` sends its 500 and then re-raises the exception,
and uvicorn answers a raised exception by closing the connection: a client's next request on the
same keep-alive connection (a HIS whose next call is a settle) then fails with a reset and gets
no answer at all. :class:`UnhandledErrors` sits just inside the application's own exception
handlers and answers instead, without re-raising: a database outage as 503
``database_unavailable`` with ``Retry-After``, anything else as 500 ``internal_error`` with no
detail, logged with its traceback (and the request id the log context carries).
"""

from __future__ import annotations

import logging

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.db import is_outage
from engine.errors import DatabaseUnavailable, problem

log = logging.getLogger("sanyi")


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The one error shape, :func:`engine.errors.problem`."""
    return JSONResponse(problem(status, code, message, field), status_code=status, headers=headers)


def unhandled_error_response(exc: Exception) -> JSONResponse:
    """503 for a database outage the request path did not map itself, else a logged 500."""
    if is_outage(exc):
        log.warning("database unavailable", exc_info=exc)
        unavailable = DatabaseUnavailable()
        return error_response(
            unavailable.status,
            unavailable.code,
            unavailable.message,
            headers=unavailable.headers(),
        )
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal error")


class UnhandledErrors:
    """Pure ASGI layer: renders an exception that escaped the app's handlers
    (:func:`unhandled_error_response`). An exception raised after the response started cannot be
    answered any more and is re-raised (uvicorn then closes the connection, the only honest
    end of a half-sent response)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking_start)
        except Exception as exc:
            if started:
                raise
            await unhandled_error_response(exc)(scope, receive, send)
