"""The outbox relay as a periodic actor; engine/relay.py does the publishing.

It claims no inbox entry (engine/inbox.py): a tick carries no work of its own, it publishes
whatever is due, and rows are claimed by lock and marked by state, so a redelivered tick is just
another harmless pass. Recording a tick id every second would only fill the inbox.
"""

from __future__ import annotations

import dramatiq
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import OperationalError

from engine.db import run_with_database
from engine.relay import AmqpPublisher, RelayStats, relay_pending
from engine.scheduler import periodic
from engine.settings import get_settings

# A tick drains at most this many batches, so a backlog after an outage is shared out between
# ticks (and worker threads) instead of running into the actor's time limit.
BATCHES_PER_TICK = 20


@periodic(IntervalTrigger(seconds=1), name="events.relay")
@dramatiq.actor(
    queue_name="relay",
    # The next tick, a second later, is the retry.
    max_retries=0,
    min_backoff=1_000,
    # The database being away is expected now and then: logged without a traceback every second.
    throws=(OperationalError,),
    # A tick older than this has been overtaken by newer ones (workers were down or busy).
    max_age=30_000,
    time_limit=300_000,
    # A tick a second: only failures and ticks that published something are worth a line.
    log_ok_runs=False,
)
def relay_outbox() -> None:
    """Publish every due outbox event to RabbitMQ.

    Without ``BROKER_URL`` (the embedded default) there is no RabbitMQ to publish to, and events
    wait in the outbox until one is configured.
    """
    settings = get_settings()
    if not settings.broker_url:
        return
    publisher = AmqpPublisher.from_settings(settings)
    stats: RelayStats = run_with_database(
        lambda db: relay_pending(db.sessionmaker, publisher, max_batches=BATCHES_PER_TICK)
    )
    if stats.published or stats.failed:
        relay_outbox.logger.info("published %d event(s), %d failed", stats.published, stats.failed)
