"""The edge of every request: its id, its access line, its HTTP metrics and refusal count.

A client may send ``X-Request-ID`` (letters, digits and ``._:-``, at most 64 characters; anything
else is replaced) so its own logs join ours; otherwise one is made. The id is returned in the
response's ``X-Request-ID`` and is on every log line written while the request is handled.

The access line (logger ``sanyi.access``) holds the request id, the caller's organisation and
role, the method and *route template* (``/v1/settlements/{setl_id}``: never the raw path, which
can hold identifiers), the status, the error ``code`` of a refusal and the latency. No header,
query or body is logged. Every error response carries the one error shape of engine/app.py, so
the code is read off the response itself: each refusal is counted by code however it was raised.
Probes and scrapes are logged only when they fail. The same route template and status feed the
HTTP metrics (engine/metrics.py), so one middleware does the work of two.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Final

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine import logs, metrics
from engine.auth import Principal

HEADER: Final = "X-Request-ID"
_HEADER_KEY: Final = HEADER.lower().encode()
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
#: Error bodies are a few hundred bytes; anything larger is not the error shape.
_ERROR_BODY_MAX = 4096

log = logging.getLogger("sanyi.access")


def _request_id(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == _HEADER_KEY:
            text = value.decode("latin-1")
            if _VALID_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


def _route_template(scope: Scope) -> str:
    """The matched route's template with its router's prefix (``/v1``), read off the request
    path: FastAPI puts the route, whose ``path`` lacks the prefix, in the scope."""
    template = getattr(scope.get("route"), "path", None)
    if not isinstance(template, str):
        return "unmatched"
    prefix = scope["path"].split("/")[: -template.count("/")]
    return "/".join(prefix) + template


def _error_code(body: bytes) -> str | None:
    if len(body) > _ERROR_BODY_MAX:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    code = parsed.get("code") if isinstance(parsed, dict) else None
    return code if isinstance(code, str) else None


class AccessMiddleware:
    """Pure ASGI middleware (no extra task per request, unlike ``BaseHTTPMiddleware``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = _request_id(scope)
        # Each request runs in a task of its own, so the id stays with this request's lines.
        logs.request_id.set(rid)
        # Request.state lives in this dict: the principal is read from it afterwards.
        scope.setdefault("state", {})
        status, error_body, responded = 500, b"", False
        headers: list[tuple[bytes, bytes]] = []

        async def send_with_id(message: Message) -> None:
            nonlocal status, error_body, responded, headers
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                headers = [*message.get("headers", ()), (_HEADER_KEY, rid.encode())]
                message["headers"] = headers
            elif message["type"] == "http.response.body" and status >= 400:
                error_body += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if not responded:
                status, error_body = 500, b""
            raise
        finally:
            _account(scope, status, headers, error_body, time.perf_counter() - started)


def _account(
    scope: Scope,
    status: int,
    headers: list[tuple[bytes, bytes]],
    error_body: bytes,
    seconds: float,
) -> None:
    """Measure a finished request, count its refusal by code, and write its access line."""
    route = _route_template(scope)
    metrics.observe_http(scope, route, status, headers, seconds)
    code = _error_code(error_body) if status >= 400 else None
    if status >= 500 and code is None:
        code = "internal_error"
    if code is not None:
        metrics.REFUSALS.labels(code=code).inc()
    if route in metrics.UNMEASURED_PATHS and status < 400:
        return  # a load balancer probes every few seconds: only failures are news
    principal = scope["state"].get("principal")
    caller = principal if isinstance(principal, Principal) else None
    log.info(
        "request",
        extra={
            "method": scope["method"],
            "route": route,
            "status": status,
            "code": code,
            "org": str(caller.org_id) if caller else None,
            "role": caller.role.value if caller else None,
            "latency_ms": round(seconds * 1000, 2),
        },
    )
