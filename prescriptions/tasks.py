"""Dramatiq actors of the prescription domain.

One periodic job expires prescriptions past ``vali_end_time`` (DOMAIN.md section 9: "a periodic
job, and checked on every access") and clears lapsed locks for the record. It catches up rather
than doing "this tick's" work (engine/scheduler.py): every run does whatever is due, so a missed or
repeated tick changes nothing, and it needs no inbox claim: each row it changes is claimed by its
row lock and marked by its new state, so a redelivered run finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import dramatiq
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import Database, run_with_database, unit_of_work, utcnow
from engine.scheduler import periodic
from prescriptions import circulation

#: Prescriptions changed per transaction, so a backlog is worked through in short transactions.
BATCH = 200

Step = Callable[[AsyncSession, datetime, int], Awaitable[int]]


async def _drain(db: Database, step: Step, now: datetime) -> int:
    """Run ``step`` one committed batch at a time until nothing is left."""
    total = 0
    while True:
        async with unit_of_work(db.sessionmaker) as session:
            done = await step(session, now, BATCH)
        total += done
        if done < BATCH:
            return total


async def lapse_due(db: Database, now: datetime) -> tuple[int, int]:
    """Expire what is past its validity and clear lapsed locks, as of ``now``."""
    expired = await _drain(db, circulation.expire_due, now)
    released = await _drain(db, circulation.release_lapsed_locks, now)
    return expired, released


@periodic(IntervalTrigger(minutes=1), name="prescriptions.expire")
@dramatiq.actor(
    max_retries=3,
    min_backoff=10_000,
    # The database being away now and then is expected: the next tick retries it anyway.
    throws=(OperationalError,),
    time_limit=300_000,
)
def expire_prescriptions() -> None:
    """Expire prescriptions past their validity; clear lapsed locks."""
    expired, released = run_with_database(lambda db: lapse_due(db, utcnow()))
    if expired or released:
        expire_prescriptions.logger.info(
            "expired %d prescription(s), released %d lapsed lock(s)", expired, released
        )
