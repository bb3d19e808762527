"""Running async services from dramatiq actors, one unit of work per run.

Actors are sync functions on dramatiq's worker threads; services are async and take a session.
Each run gets its own event loop (``asyncio.run``) and so its own engine: pooled async connections
belong to the loop that opened them, so the engine is a ``NullPool`` one, disposed when the run
ends. The unit of work commits once at the end and rolls back on any error (STYLE.md
"Transactions"), which is what lets dramatiq retry a failed run from a clean slate.

Domain ``tasks.py`` modules use these and stay thin: load ids, call the service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dramatiq.middleware import CurrentMessage
from sqlalchemy.ext.asyncio import AsyncSession

from engine import inbox
from engine.db import Database, run_in_unit_of_work
from engine.settings import get_settings

T = TypeVar("T")
log = logging.getLogger("sanyi.workers")


def run_with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` against the configured database; for work that commits more than once."""

    async def main() -> T:
        db = Database.connect(get_settings().async_database_url, null_pool=True)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


def run_async(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction against the configured database."""
    return run_in_unit_of_work(work)


def run_once(work: Callable[[AsyncSession], Awaitable[T]]) -> T | None:
    """:func:`run_async`, skipped (None) if the current message was processed before.

    The message id is claimed in the inbox (engine/inbox.py) in the same transaction as the work,
    under the actor's name: a message redelivered after its work committed (the worker died before
    acknowledging it) does nothing, while a retry after a failure, whose claim rolled back, runs.
    """
    message = CurrentMessage.get_current_message()
    if message is None:
        raise RuntimeError("run_once runs inside an actor (CurrentMessage middleware)")

    async def guarded(session: AsyncSession) -> T | None:
        if not await inbox.first_time(session, message.actor_name, message.message_id):
            log.info("%s: message %s already processed", message.actor_name, message.message_id)
            return None
        return await work(session)

    return run_async(guarded)
