"""Actors, the inbox and the scheduler, on dramatiq's StubBroker with a real Worker.

Actors run their own units of work against the configured database (``DATABASE_URL``), so these
tests point it at the test database and commit through the real engine (``database``).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import dramatiq
import pytest
import typer
from apscheduler.triggers.interval import IntervalTrigger
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import workers
from engine import scheduler
from engine.db import Database, unit_of_work, utcnow
from engine.inbox import ProcessedMessage, first_time
from engine.outbox import OutboxEvent
from engine.settings import Settings, get_settings
from tests.conftest import BROKER_URL
from tests.engine.test_outbox_relay import bound_queue, emit_committed, load
from tests.support.factories.orgs import unique_code
from workers import processes
from workers.housekeeping import INBOX_RETENTION, OUTBOX_RETENTION, forget_old_messages
from workers.relay import relay_outbox
from workers.runtime import run_once

Configure = Callable[..., None]
TEST_QUEUE = "sanyi_test"
runs: list[str] = []
ticked = threading.Event()


@dramatiq.actor(
    broker=workers.broker, queue_name=TEST_QUEUE, max_retries=1, min_backoff=10, throws=()
)
def record_run(tag: str) -> None:
    """Records each run of its work; a tag starting with ``flaky`` fails its first run."""

    async def work(session: AsyncSession) -> None:
        runs.append(tag)
        if tag.startswith("flaky") and runs.count(tag) == 1:
            raise RuntimeError("first run fails after claiming the message")

    run_once(work)


@dramatiq.actor(broker=workers.broker, queue_name=TEST_QUEUE, max_retries=0, throws=())
def tick() -> None:
    ticked.set()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[Configure]:
    """Point the actors' settings at the test database and the given broker (None: embedded)."""

    def apply(broker_url: str | None, exchange: str = "sanyi.events") -> None:
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("SANYI_EVENTS_EXCHANGE", exchange)
        if broker_url:
            monkeypatch.setenv("BROKER_URL", broker_url)
        else:
            monkeypatch.delenv("BROKER_URL", raising=False)
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


async def join(broker: StubBroker, queue: str) -> None:
    await asyncio.to_thread(broker.join, queue, fail_fast=True)


async def claim_of(db: Database, consumer: str, message_id: str) -> ProcessedMessage | None:
    async with db.sessionmaker() as session:
        return await session.get(ProcessedMessage, (consumer, message_id))


async def test_first_time_is_true_once_per_consumer_and_message(session: AsyncSession) -> None:
    message_id = str(uuid.uuid4())
    assert await first_time(session, "a", message_id)
    assert not await first_time(session, "a", message_id)
    assert await first_time(session, "b", message_id)


async def test_a_redelivered_message_is_processed_once(
    stub_broker: StubBroker, database: Database, configure: Configure
) -> None:
    configure(None)
    tag = unique_code("once")
    message = record_run.send(tag)
    await join(stub_broker, TEST_QUEUE)
    stub_broker.enqueue(message)  # RabbitMQ redelivers it: the worker died before acking
    await join(stub_broker, TEST_QUEUE)

    assert runs.count(tag) == 1
    assert await claim_of(database, "record_run", message.message_id) is not None


async def test_a_failed_run_releases_its_claim_so_the_retry_runs(
    stub_broker: StubBroker, database: Database, configure: Configure
) -> None:
    configure(None)
    tag = unique_code("flaky")
    message = record_run.send(tag)
    await join(stub_broker, TEST_QUEUE)

    assert runs.count(tag) == 2
    assert await claim_of(database, "record_run", message.message_id) is not None


def test_run_once_outside_an_actor_is_a_programming_error() -> None:
    async def work(session: AsyncSession) -> None:
        raise AssertionError("must not run")

    with pytest.raises(RuntimeError, match="inside an actor"):
        run_once(work)


async def test_without_rabbitmq_the_relay_actor_leaves_events_in_the_outbox(
    stub_broker: StubBroker, database: Database, configure: Configure
) -> None:
    configure(None)
    ids = await emit_committed(database, unique_code("P"))
    relay_outbox.send()
    await join(stub_broker, relay_outbox.queue_name)
    (row,) = (await load(database, ids)).values()
    assert row.published_at is None and row.attempts == 0


@pytest.mark.rabbitmq
async def test_the_relay_actor_publishes_committed_events(
    stub_broker: StubBroker, database: Database, configure: Configure
) -> None:
    subject = unique_code("P")
    with bound_queue(f"prescription.routed.{subject}") as (exchange, drain):
        configure(BROKER_URL, exchange)
        ids = await emit_committed(database, subject, 2)
        relay_outbox.send()
        await join(stub_broker, relay_outbox.queue_name)
        deliveries = drain()
    assert sorted(d.message_id for d in deliveries) == sorted(str(i) for i in ids)


async def test_housekeeping_forgets_old_published_events_and_claims_only(
    stub_broker: StubBroker, database: Database, configure: Configure
) -> None:
    configure(None)
    now = utcnow()
    old_event, old_pending = now - OUTBOX_RETENTION - timedelta(hours=1), now - timedelta(days=90)
    async with unit_of_work(database.sessionmaker) as session:
        published, pending = uuid.uuid4(), uuid.uuid4()
        for event_id, published_at in ((published, old_event), (pending, None)):
            session.add(
                OutboxEvent(
                    id=event_id,
                    event_type="test.old",
                    routing_key="test.old.x",
                    payload={},
                    created_at=old_pending,
                    next_attempt_at=old_pending,
                    published_at=published_at,
                )
            )
        old_claim, fresh_claim = str(uuid.uuid4()), str(uuid.uuid4())
        session.add_all(
            [
                ProcessedMessage(
                    consumer="test",
                    message_id=old_claim,
                    processed_at=now - INBOX_RETENTION - timedelta(hours=1),
                ),
                ProcessedMessage(consumer="test", message_id=fresh_claim, processed_at=now),
            ]
        )

    forget_old_messages.send()
    await join(stub_broker, forget_old_messages.queue_name)

    assert set(await load(database, [published, pending])) == {pending}
    async with database.sessionmaker() as session:
        kept = await session.scalars(
            select(ProcessedMessage.message_id).where(ProcessedMessage.consumer == "test")
        )
        assert set(kept) == {fresh_claim}


def test_the_engine_registers_its_periodic_jobs() -> None:
    relay = scheduler.JOBS["events.relay"]
    assert relay.actor is relay_outbox
    assert isinstance(relay.trigger, IntervalTrigger)
    assert relay.trigger.interval == timedelta(seconds=1)
    assert scheduler.JOBS["engine.forget_old_messages"].actor is forget_old_messages


def test_a_periodic_job_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        scheduler.periodic(IntervalTrigger(seconds=1), name="events.relay")(tick)


def test_embedded_jobs_run_periodic_actors_in_process(
    monkeypatch: pytest.MonkeyPatch, configure: Configure
) -> None:
    configure(None)
    workers.broker.flush_all()
    ticked.clear()
    job = scheduler.PeriodicJob("test.tick", tick, IntervalTrigger(seconds=0.2))
    monkeypatch.setitem(scheduler.JOBS, job.name, job)

    with processes.embedded_jobs(Settings(database_url=None, broker_url=None)):
        assert ticked.wait(timeout=5), "the periodic job never ran"
    workers.broker.flush_all()


def test_embedded_jobs_stand_aside_when_rabbitmq_is_configured() -> None:
    threads = threading.active_count()
    with processes.embedded_jobs(Settings(database_url=None, broker_url=BROKER_URL)):
        assert threading.active_count() == threads


def test_scheduler_command_needs_a_broker(configure: Configure) -> None:
    configure(None)
    with pytest.raises(typer.Exit):
        processes.scheduler_command()
