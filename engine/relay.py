"""The outbox relay: publishes committed outbox rows to RabbitMQ (docs/domain.md section 11).

How each promise of section 11 is kept:

- *Never published for a rolled-back change*: the relay reads only committed ``outbox_event`` rows,
  and :func:`engine.outbox.emit` writes them in the transaction of the change.
- *Never lost if the broker is down*: a row is marked ``published_at`` only after the broker
  *confirmed* its message (publisher confirms, persistent delivery to a durable exchange). A failed
  attempt leaves the row pending with ``attempts``, ``last_error`` and ``next_attempt_at`` set by
  exponential backoff; the engine itself never waits for the broker.
- *At least once, with ids to dedupe*: if the broker confirmed but the marking did not commit
  (the relay was killed, the database went away) the event is published again. Every message
  carries the event id as the AMQP ``message_id`` and as ``event_id`` in its body.
- *Several relays at once*: each batch is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` and
  held until its outcome commits, so relays share the backlog and none publishes a row another
  holds. (SQLite has one writer at a time, which serialises relays just the same.)

No ordering is promised between events: a retried event is overtaken by newer ones.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson
import pika
from pika.adapters.asyncio_connection import AsyncioConnection
from pika.exceptions import AMQPError
from pika.spec import Basic
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine import metrics
from engine.db import Database, unit_of_work, utcnow
from engine.outbox import OutboxEvent
from engine.settings import Settings

log = logging.getLogger("sanyi.relay")

BATCH_SIZE = 500
BACKOFF_BASE = timedelta(seconds=1)
BACKOFF_MAX = timedelta(seconds=60)
ERROR_MAX_CHARS = 1000


@dataclass(frozen=True, slots=True)
class EventMessage:
    """One outbox row as it goes on the wire (docs/events.md "Message")."""

    event_id: uuid.UUID
    event_type: str
    routing_key: str
    occurred_at: datetime
    body: bytes

    @classmethod
    def of(cls, event: OutboxEvent) -> EventMessage:
        body = {
            "event_id": str(event.id),
            "event_type": event.event_type,
            "occurred_at": event.created_at.isoformat(),
            "payload": event.payload,
        }
        return cls(
            event_id=event.id,
            event_type=event.event_type,
            routing_key=event.routing_key,
            occurred_at=event.created_at,
            body=orjson.dumps(body),
        )


class Publisher(Protocol):
    async def publish(self, messages: Sequence[EventMessage]) -> list[str | None]:
        """Publish in order; per message, None once the broker confirmed it, else why not."""
        ...


def _describe(reason: object) -> str:
    """``Kind: detail``; pika's connection errors carry their detail only in ``repr``."""
    text = str(reason)
    return f"{type(reason).__name__}: {text}" if text else repr(reason)


class Confirms:
    """The broker's verdicts on one channel's messages, by delivery tag (1, 2, ... in confirm
    mode); an ack or nack may settle every tag up to its own at once (``multiple``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.outcomes: list[str | None] = ["not confirmed"] * count
        self.pending = set(range(1, count + 1))
        self.settled: asyncio.Future[None] = loop.create_future()
        self._check()

    def on_confirm(self, frame: Any) -> None:
        method = frame.method
        tags = (
            [tag for tag in self.pending if tag <= method.delivery_tag]
            if method.multiple
            else [method.delivery_tag]
        )
        verdict = None if isinstance(method, Basic.Ack) else "nacked by the broker"
        for tag in tags:
            self.pending.discard(tag)
            self.outcomes[tag - 1] = verdict
        self._check()

    def fail_pending(self, error: str) -> None:
        for tag in self.pending:
            self.outcomes[tag - 1] = error
        self.pending.clear()
        self._check()

    def _check(self) -> None:
        if not self.pending and not self.settled.done():
            self.settled.set_result(None)


class AmqpPublisher:
    """Publishes to a durable topic exchange with publisher confirms, one connection per call.

    The whole batch is written before the confirms are awaited (pipelined, not one round trip
    per message), on pika's asyncio adapter. A connection per batch rather than per process: the
    relay runs every second or so, an idle connection would need heartbeats serviced between
    runs, and a batch of hundreds of events amortises the handshake.
    """

    def __init__(self, url: str, exchange: str, timeout: float) -> None:
        self.exchange = exchange
        self.timeout = timeout
        self._parameters = pika.URLParameters(url)
        self._parameters.connection_attempts = 1
        self._parameters.socket_timeout = timeout
        self._parameters.stack_timeout = timeout
        self._parameters.blocked_connection_timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> AmqpPublisher:
        if not settings.broker_url:
            raise ValueError("the relay needs BROKER_URL (RabbitMQ)")
        return cls(settings.broker_url, settings.events_exchange, settings.broker_timeout_seconds)

    async def publish(self, messages: Sequence[EventMessage]) -> list[str | None]:
        loop = asyncio.get_running_loop()
        confirms = Confirms(loop, len(messages))
        ready: asyncio.Future[Any] = loop.create_future()
        closed: asyncio.Future[None] = loop.create_future()

        def fail(reason: object) -> None:
            if not ready.done():
                ready.set_exception(AMQPError(_describe(reason)))
            confirms.fail_pending(_describe(reason))

        def on_closed(_connection: Any, reason: object) -> None:
            fail(reason)
            if not closed.done():
                closed.set_result(None)

        def on_channel(channel: Any) -> None:
            def on_declared(_frame: Any) -> None:
                if not ready.done():
                    ready.set_result(channel)

            channel.add_on_close_callback(lambda _channel, reason: fail(reason))
            channel.confirm_delivery(
                ack_nack_callback=confirms.on_confirm,
                callback=lambda _frame: channel.exchange_declare(
                    self.exchange, exchange_type="topic", durable=True, callback=on_declared
                ),
            )

        connection = AsyncioConnection(
            self._parameters,
            on_open_callback=lambda opened: opened.channel(on_open_callback=on_channel),
            on_open_error_callback=on_closed,
            on_close_callback=on_closed,
            custom_ioloop=loop,
        )
        try:
            channel = await asyncio.wait_for(ready, self.timeout)
            for message in messages:
                channel.basic_publish(
                    self.exchange, message.routing_key, message.body, _properties(message)
                )
            await asyncio.wait_for(asyncio.shield(confirms.settled), self.timeout)
        except (AMQPError, TimeoutError, OSError) as exc:
            # Whatever was confirmed before the failure stays confirmed; the rest failed.
            confirms.fail_pending(_describe(exc))
        finally:
            if not (connection.is_closed or connection.is_closing):
                connection.close()
            with suppress(TimeoutError):
                await asyncio.wait_for(closed, self.timeout)
        return confirms.outcomes


def _properties(message: EventMessage) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type="application/json",
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=str(message.event_id),
        type=message.event_type,
        timestamp=int(message.occurred_at.timestamp()),
        app_id="sanyi",
    )


@dataclass(frozen=True, slots=True)
class RelayStats:
    published: int = 0
    failed: int = 0

    @property
    def claimed(self) -> int:
        return self.published + self.failed

    def __add__(self, other: RelayStats) -> RelayStats:
        return RelayStats(self.published + other.published, self.failed + other.failed)


def backoff(attempts: int) -> timedelta:
    """Delay before the next attempt after ``attempts`` tries: 1 s, 2 s, 4 s ... at most 60 s.

    Capped low because an outage ends for every event at once: after RabbitMQ is back, the
    backlog is published within a minute.
    """
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


async def relay_batch(
    session: AsyncSession, publisher: Publisher, *, limit: int = BATCH_SIZE
) -> RelayStats:
    """Claim up to ``limit`` due events, publish them, record each outcome (caller commits)."""
    events = (
        await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.published_at.is_(None), OutboxEvent.next_attempt_at <= utcnow())
            .order_by(OutboxEvent.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not events:
        return RelayStats()
    outcomes = await publisher.publish([EventMessage.of(event) for event in events])
    done = utcnow()
    confirmed = [event.id for event, error in zip(events, outcomes, strict=True) if error is None]
    if confirmed:
        # One statement for the usual case, rather than an UPDATE per row.
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(confirmed))
            .values(published_at=done, attempts=OutboxEvent.attempts + 1)
            .execution_options(synchronize_session=False)
        )
    failures = [(e, error) for e, error in zip(events, outcomes, strict=True) if error is not None]
    for event, error in failures:
        event.attempts += 1
        event.last_error = error[:ERROR_MAX_CHARS]
        event.next_attempt_at = done + backoff(event.attempts)
    await session.flush()
    metrics.RELAY_PUBLISHED.inc(len(confirmed))
    metrics.RELAY_FAILURES.inc(len(failures))
    if failures:
        log.warning("relay: %d event(s) not published: %s", len(failures), failures[0][1])
    return RelayStats(published=len(confirmed), failed=len(failures))


async def relay_pending(
    sessionmaker: async_sessionmaker[AsyncSession],
    publisher: Publisher,
    *,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
) -> RelayStats:
    """Publish every due event (or ``max_batches`` batches of them), one committed batch at a time.

    Stops at the first batch with a failure: the broker is likely down, and the next run comes
    soon enough.
    """
    total = RelayStats()
    batches = 0
    while True:
        async with unit_of_work(sessionmaker) as session:
            stats = await relay_batch(session, publisher, limit=batch_size)
        total += stats
        batches += 1
        if stats.failed or stats.claimed < batch_size or batches == max_batches:
            return total


def run_relay(settings: Settings, *, once: bool, interval: float, batch_size: int) -> RelayStats:
    """Publish pending outbox events until interrupted (or, with ``once``, what is due now)."""
    publisher = AmqpPublisher.from_settings(settings)

    async def main() -> RelayStats:
        db = Database.connect(settings.async_database_url, pool_size=1)
        try:
            while True:
                try:
                    stats = await relay_pending(db.sessionmaker, publisher, batch_size=batch_size)
                except OperationalError:
                    if once:
                        raise
                    log.warning("relay: database unavailable, retrying", exc_info=True)
                else:
                    if once:
                        return stats
                    if stats.published:
                        log.info("relay: published %d event(s)", stats.published)
                await asyncio.sleep(interval)
        finally:
            await db.dispose()

    return asyncio.run(main())
