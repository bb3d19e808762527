"""The envelope's handling: reading the request envelope and answering in the national shape.

The national platform answers every message with HTTP 200 and says in ``infcode`` whether it
succeeded, and HIS clients read nothing else; so every refusal here, a malformed envelope, an
unknown key and a database outage included, is a response envelope with ``infcode`` -1 carrying
the engine's stable ``code`` and ``field``. The refusal is decided inside the request's unit of
work, which rolls back first: a refused message changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import JsonValue, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from engine.auth import Principal
from engine.db import UnitOfWorkRoute, utcnow
from engine.errors import InvalidRequest, SanyiError
from engine.wire import WireModel
from nhsa.schemas import MSGID_PATTERN, Envelope, EnvelopeOut, national_time

M = TypeVar("M", bound=WireModel)


@dataclass(frozen=True, slots=True)
class Call:
    """One transaction's call: the request's unit of work, the caller and its envelope."""

    session: AsyncSession
    principal: Principal
    envelope: Envelope


@contextmanager
def fields_under(prefix: str) -> Iterator[None]:
    """Name the field of a refusal raised inside by its place in the envelope: a /v1 service
    says ``mdtrt_id`` where the HIS sent ``input.data.mdtrt_id``. A refusal that names no
    field (the database unavailable) still names none."""
    try:
        yield
    except SanyiError as error:
        if error.field:
            error.field = f"{prefix}.{error.field}"
        raise


def parse(model: type[M], raw: bytes | dict[str, JsonValue], *, prefix: str = "") -> M:
    """``raw`` (JSON bytes or an already decoded object) as ``model``; a validation failure is
    refused naming the first offending member, under ``prefix``."""
    try:
        if isinstance(raw, bytes):
            return model.model_validate_json(raw)
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        if first["type"] == "json_invalid":
            raise InvalidRequest("the body is not valid JSON", code="malformed_json") from None
        field = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
        raise InvalidRequest(
            str(first["msg"]), code="validation_error", field=field or None
        ) from None


def _received(request: Request) -> datetime:
    received: datetime = request.state.nhsa_received
    return received


def answer(request: Request, msgid: str, output: dict[str, JsonValue] | None) -> EnvelopeOut:
    """A success envelope answering ``msgid``."""
    return EnvelopeOut(
        infcode=0,
        inf_refmsgid=msgid,
        refmsg_time=national_time(_received(request)),
        respond_time=national_time(utcnow()),
        output=output,
    )


def refusal(request: Request, msgid: str | None, error: SanyiError) -> EnvelopeOut:
    """The refusal envelope of ``error``: its code leads ``err_msg`` for clients that read only
    that."""
    return EnvelopeOut(
        infcode=-1,
        inf_refmsgid=msgid,
        refmsg_time=national_time(_received(request)),
        respond_time=national_time(utcnow()),
        err_msg=f"{error.code}: {error.message}",
        err_code=error.code,
        err_field=error.field,
    )


def msgid_of(body: bytes) -> str | None:
    """The message id of a request body, if it has a well-formed one: a refused envelope still
    names the message it answers where it can."""
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        return None
    msgid = document.get("msgid") if isinstance(document, dict) else None
    if isinstance(msgid, str) and re.fullmatch(MSGID_PATTERN, msgid):
        return msgid
    return None


class EnvelopeRoute(UnitOfWorkRoute):
    """A unit-of-work route whose refusals are answered as national refusal envelopes (HTTP
    200, ``infcode`` -1) once the unit of work has rolled back. Its only documented answer is
    the 200 envelope: the refusal statuses of /v1 routes do not apply."""

    #: Read by :func:`engine.openapi.publish`: refusals travel in the 200 body.
    answers_refusals_in_body = True

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.responses.pop(503, None)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def envelope_handler(request: Request) -> Response:
            request.state.nhsa_received = utcnow()
            try:
                return await handler(request)
            except SanyiError as error:
                refused = refusal(request, msgid_of(await request.body()), error)
                return JSONResponse(refused.model_dump(mode="json"), headers=error.headers())

        return envelope_handler
