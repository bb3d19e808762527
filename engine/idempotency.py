"""Idempotent writes under a client-supplied ``Idempotency-Key``.

The key is reserved by inserting a row in the request's own transaction. A concurrent retry's insert
waits on that uncommitted row (PostgreSQL unique index), then finds it committed and replays the
stored response; if the first attempt failed, its reservation rolled back with it and the retry runs
anew. The same key with a different request is refused, since answering it with the first
response would hide a client bug.

Settlement, whose write is a single statement, does without the up-front reservation: it reads
the key with the state it settles on and inserts the record, response included, in that one
statement. A request under the same key that stored first makes the insert fail
(:class:`KeyTaken`) and this one replays it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

import rfc8785
from fastapi import Header
from pydantic import BaseModel
from sqlalchemy import JSON, String, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from engine.auth import Principal
from engine.db import Base, insert_or_ignore, table_of, utcnow
from engine.errors import Conflict

M = TypeVar("M", bound=BaseModel)

IdempotencyKey = Annotated[
    str,
    Header(alias="Idempotency-Key", min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_\-:.]+$"),
]
#: The same header where it is optional: registration writes (2201, 2204, prescription upload)
#: are idempotent under a key when the client sends one, and simply run when it does not.
OptionalIdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_\-:.]+$"),
]


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_record"

    org_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def fingerprint(operation: str, request: Any) -> str:
    """A stable hash of what was asked: the operation and its canonical JSON body."""
    return hashlib.sha256(rfc8785.dumps({"op": operation, "request": request})).hexdigest()


class KeyTaken(Exception):
    """A write that stores its response under a key found the record of another request there:
    that request's transaction committed between this one's read of the key and its write."""


@dataclass(frozen=True, slots=True)
class Reserved:
    """An Idempotency-Key this request reserved: its response is to be stored under it, in the
    same transaction as the work (:func:`store_response`, or a statement of the caller's own)."""

    org_id: uuid.UUID
    key: str


@dataclass(frozen=True, slots=True)
class Reservation:
    """The reservation of (organisation, key) for the request whose fingerprint is
    ``request_hash``: the row it inserts, and what it becomes once inserted."""

    principal: Principal
    key: str
    request_hash: str

    def record(self) -> dict[str, Any]:
        return {
            "org_id": self.principal.org_id,
            "key": self.key,
            "request_hash": self.request_hash,
            "created_at": utcnow(),
        }

    @property
    def reserved(self) -> Reserved:
        return Reserved(self.principal.org_id, self.key)


async def reserve(
    session: AsyncSession,
    principal: Principal,
    key: str,
    request_hash: str,
    response_model: type[M],
) -> Reserved | M:
    """Reserve (organisation, key) for this request, or the response of the request that did."""
    request = Reservation(principal, key, request_hash)
    # False when the key is taken, after waiting for the transaction of a concurrent reservation.
    if await insert_or_ignore(session, IdempotencyRecord, request.record()):
        return request.reserved
    return await replay(session, request, response_model)


async def replay(session: AsyncSession, request: Reservation, response_model: type[M]) -> M:
    """The stored response of the request that reserved the key first (its reservation
    committed: a reservation waits for the transaction of a concurrent one). A different request
    under the same key, or one still in progress, is refused."""
    record = (
        await session.execute(
            select(IdempotencyRecord)
            .where(
                IdempotencyRecord.org_id == request.principal.org_id,
                IdempotencyRecord.key == request.key,
            )
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    return replayed(request, record.request_hash, record.response, response_model)


def replayed(request: Reservation, request_hash: str, response: Any, response_model: type[M]) -> M:
    """The response stored under the request's key by the request whose fingerprint is
    ``request_hash``; refused when that was a different request, or one still in progress."""
    if request_hash != request.request_hash:
        raise Conflict(
            "this Idempotency-Key was used for a different request",
            code="idempotency_key_reused",
            field="Idempotency-Key",
        )
    if response is None:
        raise Conflict(
            "a request with this Idempotency-Key is still in progress",
            code="idempotency_in_progress",
            field="Idempotency-Key",
        )
    return response_model.model_validate(response)


async def store_response(session: AsyncSession, reserved: Reserved, response: BaseModel) -> None:
    await session.execute(
        _STORE_RESPONSE,
        {
            "b_org_id": reserved.org_id,
            "b_key": reserved.key,
            "b_response": response.model_dump(mode="json"),
        },
    )


async def run_idempotent(
    session: AsyncSession,
    principal: Principal,
    key: str | None,
    request_hash: str,
    operation: Callable[[], Awaitable[M]],
    response_model: type[M],
    *,
    kept: Callable[[M], M] | None = None,
) -> M:
    """Run ``operation`` once per (organisation, key); replay its response on every retry.
    Without a key (where the header is optional) the operation simply runs. ``kept`` is what of
    the response is stored for replays (default all of it): a secret shown once stays out."""
    if key is None:
        return await operation()
    reserved = await reserve(session, principal, key, request_hash, response_model)
    if not isinstance(reserved, Reserved):
        return reserved
    result = await operation()
    await store_response(session, reserved, kept(result) if kept else result)
    return result


_records = table_of(IdempotencyRecord)
_STORE_RESPONSE = (
    update(_records)
    .where(_records.c.org_id == bindparam("b_org_id"), _records.c.key == bindparam("b_key"))
    .values(response=bindparam("b_response", type_=_records.c.response.type))
)
