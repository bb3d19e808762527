"""Processed-message ids: what makes an actor or an event consumer idempotent.

Brokers deliver at least once (domain.md section 11): a worker killed after its work committed but
before it acknowledged the message gets the message again, and the relay may publish an event
twice. A consumer therefore claims ``(consumer, message_id)`` with ``INSERT ... ON CONFLICT DO
NOTHING`` in the *same* transaction as its work (STYLE.md "Background work", after polar's
``external_event``). If the work commits, the claim commits with it and every redelivery is skipped;
if the work fails, the claim rolls back with it and the retry runs anew. On PostgreSQL a concurrent
duplicate waits on the uncommitted claim and then sees it, so two workers never both do the work.

Use :func:`first_time` directly in an event consumer (the message id is the event's ``event_id``),
or ``workers.runtime.run_once`` in a dramatiq actor (the message id is dramatiq's).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, insert_or_ignore, utcnow


class ProcessedMessage(Base):
    __tablename__ = "processed_message"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


async def first_time(session: AsyncSession, consumer: str, message_id: str) -> bool:
    """Claim ``message_id`` for ``consumer`` in the caller's transaction; False if already done.

    ``consumer`` names the handler (``prescriptions.expire``), so two handlers of the same message
    each run once.
    """
    return await insert_or_ignore(
        session,
        ProcessedMessage,
        {"consumer": consumer, "message_id": message_id, "processed_at": utcnow()},
    )


async def forget_before(session: AsyncSession, before: datetime) -> int:
    """Delete claims older than ``before``; returns how many.

    Safe once no redelivery can be that old: RabbitMQ redelivers unacknowledged messages when a
    consumer dies, and dramatiq retries within its ``max_backoff``, so the retention only has to
    outlast the longest retry schedule (workers.housekeeping keeps 30 days).
    """
    result = await session.execute(
        delete(ProcessedMessage).where(ProcessedMessage.processed_at < before)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
