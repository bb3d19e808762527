"""Catalogue sync for point-of-sale and HIS systems: validators, pages and compression.

A catalogue changes only by an import, and every import gives the region a new catalogue version
token (:func:`tariffs.repository.lock_and_bump_catalogue_version`). The ``ETag`` of a catalogue
answer is a hash of that token and of what was asked, so a client revalidates with
``If-None-Match`` and gets 304 without the engine reading a row. The token is read before the
rows: an import committing in between makes the rows newer than the tag, never older, so the
worst case is one extra transfer on the next request.

Pages are keyset-paginated on the catalogue's own order (code, level, grade, title, valid_from):
``next_cursor`` names the last row of a page, and the next page starts after it, however many
rows an import adds meanwhile.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from datetime import date

from starlette.concurrency import run_in_threadpool

from engine.errors import InvalidRequest
from tariffs.repository import OrderKey, order_key
from tariffs.versions import CatalogueVersion

#: A paged request without ``limit`` gets pages of this many rows.
DEFAULT_PAGE = 1000
MAX_PAGE = 5000


def etag(catalogue_version: str, *request: object) -> str:
    """A strong validator of one catalogue answer: the region's catalogue version and every
    parameter that shapes the answer."""
    digest = hashlib.sha256(json.dumps([catalogue_version, *map(str, request)]).encode())
    return f'"{digest.hexdigest()[:32]}"'


def gzip_etag(tag: str) -> str:
    """The validator of the gzip-coded answer: another representation, so another strong tag."""
    return tag[:-1] + '-gzip"'


def not_modified(if_none_match: str | None, *tags: str) -> bool:
    """Whether ``If-None-Match`` names one of ``tags`` (or is ``*``); weak tags compare by their
    opaque part, as RFC 9110 section 13.1.2 has it for this header."""
    if not if_none_match:
        return False
    offered = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in offered or not offered.isdisjoint(tags)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether ``Accept-Encoding`` accepts gzip (by name or ``*``) with a weight above zero."""
    for part in (accept_encoding or "").split(","):
        name, _, params = part.partition(";")
        if name.strip().lower() not in ("gzip", "*"):
            continue
        weight = params.strip().removeprefix("q=").strip() if params.strip() else "1"
        try:
            return float(weight) > 0
        except ValueError:
            return False
    return False


async def compress(body: bytes) -> bytes:
    """gzip ``body`` off the event loop: a whole catalogue is tens of megabytes."""
    return await run_in_threadpool(gzip.compress, body, 6)


def cursor_of(version: CatalogueVersion) -> str:
    """The cursor of the page that follows ``version``."""
    code, level, grade, title, valid_from = order_key(version)
    raw = json.dumps([code, level, grade, title, valid_from.isoformat()], ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def parse_cursor(cursor: str) -> OrderKey:
    """The row a ``next_cursor`` names; anything else is 400 ``invalid_cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        code, level, grade, title, valid_from = json.loads(raw)
        if not (
            isinstance(code, str)
            and isinstance(level, int)
            and isinstance(grade, str)
            and isinstance(title, str)
            and isinstance(valid_from, str)
        ):
            raise ValueError(cursor)
        return code, level, grade, title, date.fromisoformat(valid_from)
    except (ValueError, TypeError) as error:
        raise InvalidRequest("malformed cursor", code="invalid_cursor", field="cursor") from error
