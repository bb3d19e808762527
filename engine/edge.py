"""Refuse control characters in the path, query and headers before any route sees them.

A NUL byte in ``/v1/persons/P%00`` or ``?fixmedins_code=%00`` would otherwise travel into a query
the database refuses (PostgreSQL text cannot hold NUL). Bodies are checked by their schemas
(:class:`engine.wire.WireModel`); this middleware covers what no schema sees.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.errors import InvalidRequest
from engine.wire import control_character

#: Header values are bytes in any encoding (UTF-8 text holds bytes 0x80-0x9F), so only ASCII
#: controls are refused there; HTTP allows a horizontal tab inside a value.
_HEADER_CONTROL: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def _refusal(scope: Scope) -> InvalidRequest | None:
    """The refusal of the first control character in the request line or headers, if any."""
    bad = control_character(scope["path"])
    if bad is not None:
        return _invalid("path", bad)
    query = scope["query_string"].decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        bad = control_character(name) or control_character(value)
        if bad is not None:
            return _invalid(name if control_character(name) is None else "query", bad)
    for raw_name, raw_value in scope["headers"]:
        found = _HEADER_CONTROL.search(raw_value)
        if found is not None:
            return _invalid(raw_name.decode("latin-1"), f"U+{found.group()[0]:04X}")
    return None


def _invalid(field: str, character: str) -> InvalidRequest:
    return InvalidRequest(
        f"{field} contains the control character {character}",
        code="invalid_character",
        field=field,
    )


class ControlCharacterGuard:
    """ASGI middleware: a request with a control character in its path, a query parameter or a
    header is answered 400 ``invalid_character`` naming the part, and goes no further."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = _refusal(scope)
            if refusal is not None:
                response = JSONResponse(refusal.as_dict(), status_code=refusal.status)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
