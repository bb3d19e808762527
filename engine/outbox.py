"""Transactional outbox (docs/domain.md section 11).

A state change that other systems care about calls :func:`emit` in the same transaction as the
change: the event exists if and only if the change committed. A relay publishes pending rows to the
broker afterwards (:mod:`engine.relay`); the row id is the event id consumers dedupe on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UuidPrimaryKey, utcnow


class OutboxEvent(UuidPrimaryKey, Base):
    __tablename__ = "outbox_event"
    __table_args__ = (Index("ix_outbox_event_pending", "published_at", "next_attempt_at"),)

    event_type: Mapped[str] = mapped_column(String(60))
    routing_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)


def event_values(event_type: str, subject: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The column values of a new pending event, every column given, for a caller that writes it
    in a statement of its own (the settlement hot path); :func:`emit` adds them as a row.

    ``event_type`` is dotted (``settlement.settled``) and ``subject`` is the party that should be
    able to bind to it (an institution code), giving routing keys such as
    ``settlement.settled.H23010000001``.
    """
    now = utcnow()
    return {
        "id": uuid.uuid4(),
        "event_type": event_type,
        "routing_key": f"{event_type}.{subject}",
        "payload": payload,
        "created_at": now,
        "published_at": None,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
    }


def emit(
    session: AsyncSession, event_type: str, subject: str, payload: dict[str, Any]
) -> uuid.UUID:
    """Write one event in the caller's transaction (see :func:`event_values`)."""
    event = OutboxEvent(**event_values(event_type, subject, payload))
    session.add(event)
    return event.id


async def forget_published_before(session: AsyncSession, before: datetime) -> int:
    """Delete events published before ``before``; returns how many.

    A published event lives on in the subscribers' queues, and the outbox only has to remember it
    long enough to answer "was it sent?" while an incident is investigated (workers.housekeeping
    keeps 7 days). Pending events are never deleted, however old.
    """
    result = await session.execute(
        delete(OutboxEvent).where(
            OutboxEvent.published_at.is_not(None), OutboxEvent.published_at < before
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits to be published: the operator's signal that the relay or the broker is down."""

    pending: int
    oldest_created_at: datetime | None


async def backlog(session: AsyncSession) -> Backlog:
    """Count the pending events and find the oldest (the pending index serves it)."""
    row = (
        await session.execute(
            select(func.count(), func.min(OutboxEvent.created_at)).where(
                OutboxEvent.published_at.is_(None)
            )
        )
    ).one()
    return Backlog(pending=int(row[0]), oldest_created_at=row[1])
