"""Keyset pagination: the cursor a page hands out for the page after it.

A listing ordered by (timestamp, id) resumes after the last row it returned: the cursor is that
row's key, ``<ISO timestamp>|<id>``. Anything else given back is refused as ``invalid_cursor``.
"""

from __future__ import annotations

from datetime import datetime

from engine.errors import InvalidRequest


def encode_cursor(at: datetime, key: str) -> str:
    """The cursor of the page that follows the row keyed (``at``, ``key``)."""
    return f"{at.isoformat()}|{key}"


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The row key a cursor names; None for the first page."""
    if not cursor:
        return None
    try:
        at, key = cursor.split("|", 1)
        return datetime.fromisoformat(at), key
    except ValueError as exc:
        raise InvalidRequest("malformed cursor", code="invalid_cursor", field="cursor") from exc
