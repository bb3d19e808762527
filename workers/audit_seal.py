"""The audit seal as a periodic actor; engine/audit/seals.py does the sealing.

A seal commits to the head of every stream that moved since the previous one, so the newest
entries of a stream can be deleted unseen only until the next seal: the interval is that window.
A tick catches up by itself (it seals whatever moved, however long since the last seal), so a
missed or repeated tick changes nothing, and a second sealer running at once fails on the seal
chain's unique ``prev_mac`` and leaves the sealing to the next tick.

Each seal's id and MAC are logged: a copy outside the database is what shows the newest seal
itself was not deleted (docs/audit.md).
"""

from __future__ import annotations

from datetime import timedelta

import dramatiq
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from engine import audit
from engine.db import run_in_unit_of_work
from engine.scheduler import periodic

SEAL_INTERVAL = timedelta(minutes=5)


@periodic(IntervalTrigger(seconds=SEAL_INTERVAL.total_seconds()), name="engine.audit_seal")
@dramatiq.actor(
    max_retries=0,
    min_backoff=10_000,
    # The next tick is the retry: another sealer got there first, or the database was away.
    throws=(IntegrityError, OperationalError),
)
def seal_audit() -> None:
    """Seal the heads of every audit stream that moved since the previous seal."""

    async def work(session: AsyncSession) -> tuple[int, int, str] | None:
        sealed = await audit.seal(session)
        return None if sealed is None else (sealed.id, sealed.head_count, sealed.mac)

    sealed = run_in_unit_of_work(work)
    if sealed is not None:
        seal_audit.logger.info("audit_seal id=%d heads=%d mac=%s", *sealed)
