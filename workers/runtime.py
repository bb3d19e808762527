"""Exactly-once runs for dramatiq actors.

Actors run async services through ``engine.db.run_in_unit_of_work`` (one committed unit of work,
rolled back on any error so dramatiq retries from a clean slate) or ``run_with_database`` (work
that commits in steps). :func:`run_once` adds the inbox claim for work that must not repeat when
a message is redelivered. Domain ``tasks.py`` modules stay thin: load ids, call the service.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dramatiq.middleware import CurrentMessage
from sqlalchemy.ext.asyncio import AsyncSession

from engine import inbox
from engine.db import run_in_unit_of_work

T = TypeVar("T")
log = logging.getLogger("sanyi.workers")


def run_once(work: Callable[[AsyncSession], Awaitable[T]]) -> T | None:
    """One unit of work, skipped (None) if the current message was processed before.

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

    return run_in_unit_of_work(guarded)
