"""The outbox relay (domain.md section 11): logic with a fake publisher, delivery with RabbitMQ.

The RabbitMQ tests commit through the real engine (``database``) and give each test its own
exchange and queue, so they neither see nor disturb other tests' events.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
import pika
import pytest
from pika.frame import Method
from pika.spec import Basic
from sqlalchemy import select
from typer.testing import CliRunner

from engine.db import Database, unit_of_work, utcnow
from engine.outbox import OutboxEvent, emit
from engine.relay import (
    AmqpPublisher,
    Confirms,
    EventMessage,
    backoff,
    relay_pending,
)
from engine.relay_cli import events_cli
from engine.settings import get_settings
from tests.conftest import BROKER_URL
from tests.support.factories.orgs import unique_code

UNREACHABLE_BROKER = "amqp://guest:guest@127.0.0.1:9/%2F"
EVENT = "prescription.routed"


@dataclass
class FakePublisher:
    """Confirms every message except those it is told to refuse."""

    refuse: Mapping[uuid.UUID, str] = field(default_factory=dict)
    sent: list[EventMessage] = field(default_factory=list)

    async def publish(self, messages: Sequence[EventMessage]) -> list[str | None]:
        self.sent.extend(messages)
        return [self.refuse.get(m.event_id) for m in messages]

    def sent_ids(self) -> list[uuid.UUID]:
        return [m.event_id for m in self.sent]


@dataclass(frozen=True)
class Delivery:
    routing_key: str
    message_id: str
    delivery_mode: int
    content_type: str
    body: dict[str, Any]


@contextmanager
def bound_queue(binding_key: str) -> Iterator[tuple[str, Callable[[], list[Delivery]]]]:
    """A fresh events exchange and a queue bound to it; yields (exchange, drain); deletes both."""
    exchange = f"sanyi.test.{uuid.uuid4().hex[:12]}"
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    channel = connection.channel()
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, exchange, routing_key=binding_key)

    def drain() -> list[Delivery]:
        deliveries: list[Delivery] = []
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return deliveries
            deliveries.append(
                Delivery(
                    routing_key=method.routing_key,
                    message_id=properties.message_id,
                    delivery_mode=properties.delivery_mode,
                    content_type=properties.content_type,
                    body=orjson.loads(body),
                )
            )

    try:
        yield exchange, drain
    finally:
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        connection.close()


async def emit_committed(db: Database, subject: str, count: int = 1) -> list[uuid.UUID]:
    """``count`` events about ``subject``, committed in one unit of work."""
    async with unit_of_work(db.sessionmaker) as session:
        return [
            emit(session, EVENT, subject, {"hi_rxno": f"RX{i}", "amount": "12.30"})
            for i in range(count)
        ]


async def load(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, OutboxEvent]:
    async with db.sessionmaker() as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.id.in_(ids)))
        return {row.id: row for row in rows}


def test_backoff_doubles_from_one_second_up_to_a_minute() -> None:
    delays = [backoff(n).total_seconds() for n in range(1, 9)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]


async def test_confirms_settle_by_delivery_tag_single_or_multiple() -> None:
    confirms = Confirms(asyncio.get_running_loop(), 5)
    confirms.on_confirm(Method(1, Basic.Ack(delivery_tag=2, multiple=True)))
    confirms.on_confirm(Method(1, Basic.Nack(delivery_tag=3, multiple=False)))
    confirms.on_confirm(Method(1, Basic.Ack(delivery_tag=5, multiple=False)))
    assert not confirms.settled.done()
    confirms.fail_pending("StreamLostError: connection lost")
    assert confirms.settled.done()
    assert confirms.outcomes == [
        None,
        None,
        "nacked by the broker",
        "StreamLostError: connection lost",
        None,
    ]


async def test_confirmed_events_are_marked_published_refused_ones_wait(
    tx_database: Database,
) -> None:
    ids = await emit_committed(tx_database, unique_code("P"), 3)
    before = utcnow()
    publisher = FakePublisher(refuse={ids[1]: "nacked by the broker"})

    stats = await relay_pending(tx_database.sessionmaker, publisher)

    assert set(ids) <= set(publisher.sent_ids())
    assert stats.failed == 1
    rows = await load(tx_database, ids)
    for confirmed in (ids[0], ids[2]):
        assert rows[confirmed].published_at is not None
        assert rows[confirmed].attempts == 1
    refused = rows[ids[1]]
    assert refused.published_at is None
    assert refused.attempts == 1
    assert refused.last_error == "nacked by the broker"
    assert refused.next_attempt_at >= before + backoff(1)


async def test_a_refused_event_is_retried_only_when_due(tx_database: Database) -> None:
    (event_id,) = await emit_committed(tx_database, unique_code("P"))
    await relay_pending(tx_database.sessionmaker, FakePublisher(refuse={event_id: "down"}))

    early = FakePublisher()
    await relay_pending(tx_database.sessionmaker, early)
    assert event_id not in early.sent_ids()

    async with unit_of_work(tx_database.sessionmaker) as session:
        row = await session.get_one(OutboxEvent, event_id)
        row.next_attempt_at = utcnow() - timedelta(seconds=1)  # the backoff has passed
    due = FakePublisher()
    await relay_pending(tx_database.sessionmaker, due)
    assert due.sent_ids().count(event_id) == 1
    row = (await load(tx_database, [event_id]))[event_id]
    assert row.published_at is not None and row.attempts == 2


async def test_the_message_carries_the_event_id_type_time_and_payload(
    tx_database: Database,
) -> None:
    subject = unique_code("P")
    (event_id,) = await emit_committed(tx_database, subject)
    publisher = FakePublisher()
    await relay_pending(tx_database.sessionmaker, publisher)

    (message,) = [m for m in publisher.sent if m.event_id == event_id]
    row = (await load(tx_database, [event_id]))[event_id]
    assert message.routing_key == f"{EVENT}.{subject}"
    assert orjson.loads(message.body) == {
        "event_id": str(event_id),
        "event_type": EVENT,
        "occurred_at": row.created_at.isoformat(),
        "payload": {"hi_rxno": "RX0", "amount": "12.30"},
    }


async def test_a_rolled_back_change_leaves_no_event(tx_database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with unit_of_work(tx_database.sessionmaker) as session:
            event_id = emit(session, EVENT, unique_code("P"), {})
            await session.flush()
            raise RuntimeError("the change failed")
    publisher = FakePublisher()
    await relay_pending(tx_database.sessionmaker, publisher)
    assert event_id not in publisher.sent_ids()
    assert await load(tx_database, [event_id]) == {}


def test_relay_command_refuses_to_run_without_a_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKER_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(events_cli, ["relay", "--once"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "BROKER_URL" in result.output


@pytest.mark.rabbitmq
async def test_committed_events_reach_a_bound_queue_once_each(database: Database) -> None:
    subject = unique_code("P")
    with bound_queue(f"{EVENT}.{subject}") as (exchange, drain):
        ids = await emit_committed(database, subject, 3)
        await relay_pending(database.sessionmaker, AmqpPublisher(BROKER_URL, exchange, 2.0))
        deliveries = drain()

    assert sorted(d.message_id for d in deliveries) == sorted(str(i) for i in ids)
    for delivery in deliveries:
        assert delivery.routing_key == f"{EVENT}.{subject}"
        assert delivery.delivery_mode == 2  # persistent
        assert delivery.content_type == "application/json"
        assert delivery.body["event_id"] == delivery.message_id
        assert delivery.body["event_type"] == EVENT
    assert all(row.published_at is not None for row in (await load(database, ids)).values())


@pytest.mark.rabbitmq
async def test_a_rolled_back_transaction_publishes_nothing(database: Database) -> None:
    subject = unique_code("P")
    with bound_queue(f"{EVENT}.{subject}") as (exchange, drain):
        with pytest.raises(RuntimeError):
            async with unit_of_work(database.sessionmaker) as session:
                emit(session, EVENT, subject, {"hi_rxno": "ROLLED-BACK"})
                raise RuntimeError("the change failed")
        (committed,) = await emit_committed(database, subject)
        await relay_pending(database.sessionmaker, AmqpPublisher(BROKER_URL, exchange, 2.0))
        deliveries = drain()
    assert [d.message_id for d in deliveries] == [str(committed)]


@pytest.mark.rabbitmq
async def test_events_wait_out_a_broker_outage_then_publish_once(database: Database) -> None:
    subject = unique_code("P")
    with bound_queue(f"{EVENT}.{subject}") as (exchange, drain):
        up = AmqpPublisher(BROKER_URL, exchange, 2.0)
        await relay_pending(database.sessionmaker, up)  # publish any backlog left by other tests
        ids = await emit_committed(database, subject, 3)

        down = await relay_pending(
            database.sessionmaker, AmqpPublisher(UNREACHABLE_BROKER, exchange, 1.0)
        )
        assert down.published == 0 and down.failed >= len(ids)
        for row in (await load(database, ids)).values():
            assert row.published_at is None
            assert row.attempts == 1
            assert row.last_error and "AMQPConnectionError" in row.last_error
            assert row.next_attempt_at > utcnow()

        await relay_pending(database.sessionmaker, up)
        assert drain() == []  # not due yet: the backoff holds

        await asyncio.sleep(backoff(1).total_seconds() + 0.2)
        await relay_pending(database.sessionmaker, up)
        deliveries = drain()
        await relay_pending(database.sessionmaker, up)
        assert drain() == []

    assert sorted(d.message_id for d in deliveries) == sorted(str(i) for i in ids)
    for row in (await load(database, ids)).values():
        assert row.published_at is not None and row.attempts == 2


@pytest.mark.rabbitmq
@pytest.mark.postgres_only
async def test_two_relays_racing_publish_each_event_once(database: Database) -> None:
    subject = unique_code("P")
    with bound_queue(f"{EVENT}.{subject}") as (exchange, drain):
        ids = await emit_committed(database, subject, 300)
        first, second = await asyncio.gather(
            relay_pending(
                database.sessionmaker, AmqpPublisher(BROKER_URL, exchange, 2.0), batch_size=10
            ),
            relay_pending(
                database.sessionmaker, AmqpPublisher(BROKER_URL, exchange, 2.0), batch_size=10
            ),
        )
        deliveries = drain()

    counts = Counter(d.message_id for d in deliveries)
    assert set(counts) == {str(i) for i in ids}
    assert set(counts.values()) == {1}
    # Both relays did part of the work: the race really happened.
    assert first.published > 0 and second.published > 0


@pytest.mark.rabbitmq
async def test_relay_command_once_publishes_what_is_due(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = unique_code("P")
    with bound_queue(f"{EVENT}.{subject}") as (exchange, drain):
        (event_id,) = await emit_committed(database, subject)
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("BROKER_URL", BROKER_URL)
        monkeypatch.setenv("SANYI_EVENTS_EXCHANGE", exchange)
        get_settings.cache_clear()
        try:
            result = await asyncio.to_thread(CliRunner().invoke, events_cli, ["relay", "--once"])
        finally:
            get_settings.cache_clear()
        deliveries = drain()
    assert result.exit_code == 0, result.output
    assert "failed 0" in result.output
    assert [d.message_id for d in deliveries] == [str(event_id)]
