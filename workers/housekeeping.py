"""Daily forgetting of what no longer needs remembering: published events, old inbox claims."""

from __future__ import annotations

from datetime import UTC, timedelta

import dramatiq
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.ext.asyncio import AsyncSession

from engine import inbox, outbox
from engine.db import run_in_unit_of_work, utcnow
from engine.scheduler import periodic

# Published events live on in subscribers' queues; a week answers "was it sent?" in an incident.
OUTBOX_RETENTION = timedelta(days=7)
# Redeliveries come within minutes of a crash and retries within dramatiq's backoff schedule.
INBOX_RETENTION = timedelta(days=30)


@periodic(CronTrigger(hour=3, minute=17, timezone=UTC), name="engine.forget_old_messages")
@dramatiq.actor(max_retries=3, min_backoff=60_000, throws=())
def forget_old_messages() -> None:
    """Delete published outbox rows and inbox claims past their retention (idempotent)."""

    async def work(session: AsyncSession) -> tuple[int, int]:
        now = utcnow()
        events = await outbox.forget_published_before(session, now - OUTBOX_RETENTION)
        claims = await inbox.forget_before(session, now - INBOX_RETENTION)
        return events, claims

    events, claims = run_in_unit_of_work(work)
    forget_old_messages.logger.info("forgot %d event(s) and %d inbox claim(s)", events, claims)
