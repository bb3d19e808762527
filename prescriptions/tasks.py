"""Dramatiq actors of the prescription domain.

One periodic job expires prescriptions past ``vali_end_time`` (docs/domain.md section 9: "a periodic
job, and checked on every access"), clears lapsed locks for the record, and forgets presentation
counts whose window has ended (prescriptions.presentation). It catches up rather
than doing "this tick's" work (engine/scheduler.py): every run does whatever is due, so a missed or
repeated tick changes nothing, and it needs no inbox claim: each row it changes is claimed by its
row lock and marked by its new state, so a redelivered run finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import dramatiq
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import Database, run_with_database, unit_of_work, utcnow
from engine.scheduler import periodic
from engine.settings import get_settings
from prescriptions import circulation, presentation
from prescriptions.presentation import PresentationLimits

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


async def forget_ended_windows(db: Database, now: datetime, window: timedelta) -> int:
    """Delete the presentation counts of ended windows, in one statement of its own."""
    async with unit_of_work(db.sessionmaker) as session:
        return await presentation.forget_ended_windows(session, now, window)


async def housekeeping(db: Database, now: datetime) -> tuple[int, int, int]:
    """Everything the periodic job does, as of ``now``."""
    expired, released = await lapse_due(db, now)
    window = PresentationLimits.of(get_settings()).window
    return expired, released, await forget_ended_windows(db, now, window)


@periodic(IntervalTrigger(minutes=1), name="prescriptions.expire")
@dramatiq.actor(
    max_retries=3,
    min_backoff=10_000,
    # The database being away now and then is expected: the next tick retries it anyway.
    throws=(OperationalError,),
    time_limit=300_000,
)
def expire_prescriptions() -> None:
    """Expire prescriptions past their validity; clear lapsed locks; forget ended presentation
    windows."""
    expired, released, forgotten = run_with_database(lambda db: housekeeping(db, utcnow()))
    if expired or released or forgotten:
        expire_prescriptions.logger.info(
            "expired %d prescription(s), released %d lapsed lock(s), forgot %d presentation"
            " count(s)",
            expired,
            released,
            forgotten,
        )
