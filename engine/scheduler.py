"""Periodic jobs (APScheduler 3): the registry of periodic actors, and how they are scheduled.

A domain marks an argument-less actor in its ``tasks.py`` as periodic::

    @periodic(CronTrigger(day=1, hour=2, timezone="Asia/Shanghai"))
    @dramatiq.actor(max_retries=5, min_backoff=60_000, throws=())
    def monthly_budget_run() -> None: ...

The engine's own periodic jobs (the outbox relay, housekeeping, the audit seal) are registered
the same way in ``workers/``, which also runs the processes that fire them (``workers.processes``):
this module imports no actor, actors import it.

The scheduler only *enqueues*: with ``BROKER_URL`` set, exactly one ``sanyi scheduler`` process
sends each job's message to RabbitMQ when its trigger fires and ``sanyi worker`` processes run it;
with the embedded default (no ``BROKER_URL``), :func:`embedded_jobs` runs the same scheduler and a
dramatiq worker on the in-process broker inside ``sanyi serve``.

The schedule lives in memory, so a tick is missed while no scheduler runs, and one is repeated if
two run by mistake. Periodic actors are therefore written to *catch up* and to be idempotent: each
run does whatever is due (every prescription past its validity, every closed month not yet run),
never "the work of this tick", so a missed or repeated tick changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import dramatiq
from apscheduler.schedulers.base import BaseScheduler

ActorT = TypeVar("ActorT", bound="dramatiq.Actor[[], Any]")


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    name: str
    actor: dramatiq.Actor[[], Any]
    trigger: Any  # an APScheduler trigger (IntervalTrigger, CronTrigger)


JOBS: dict[str, PeriodicJob] = {}


def periodic(trigger: Any, *, name: str | None = None) -> Callable[[ActorT], ActorT]:
    """Register an argument-less actor to be enqueued whenever ``trigger`` fires."""

    def register(actor: ActorT) -> ActorT:
        job = PeriodicJob(name or actor.actor_name, actor, trigger)
        if job.name in JOBS:
            raise ValueError(f"periodic job {job.name!r} is registered twice")
        JOBS[job.name] = job
        return actor

    return register


def schedule(scheduler: BaseScheduler) -> None:
    """Add every registered job to ``scheduler``.

    ``coalesce`` folds runs missed while the scheduler was stalled into one, and no grace limit
    drops a late run: the actors catch up, so one late run is what is wanted.
    """
    for job in JOBS.values():
        scheduler.add_job(
            job.actor.send,
            trigger=job.trigger,
            id=job.name,
            name=job.name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            replace_existing=True,
        )
