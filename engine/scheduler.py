"""Periodic jobs (APScheduler 3): a registry of actors and the one process that enqueues them.

A domain marks an argument-less actor in its ``tasks.py`` as periodic::

    @periodic(CronTrigger(day=1, hour=2, timezone="Asia/Shanghai"))
    @dramatiq.actor(max_retries=5, min_backoff=60_000, throws=())
    def monthly_budget_run() -> None: ...

The engine's own periodic jobs (the outbox relay, housekeeping, the audit seal) are registered
the same way in ``workers/``.

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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from typing import Any, TypeVar

import dramatiq
import typer
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from engine import logs
from engine.settings import Settings, get_settings

ActorT = TypeVar("ActorT", bound="dramatiq.Actor[[], Any]")

EMBEDDED_WORKER_THREADS = 4
EMBEDDED_STOP_TIMEOUT_MS = 10_000


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


def scheduler_command() -> None:
    """Enqueue the periodic jobs on their triggers; run exactly one per deployment."""
    logs.configure(get_settings())
    if not get_settings().broker_url:
        typer.echo("BROKER_URL is not set: periodic jobs run inside `sanyi serve`.", err=True)
        raise typer.Exit(1)
    import workers  # noqa: F401  (the broker, then every actor and its periodic job)

    scheduler = BlockingScheduler(timezone=UTC)
    schedule(scheduler)
    for job in JOBS.values():
        typer.echo(f"{job.name}: {job.trigger}")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)


@contextmanager
def embedded_jobs(settings: Settings) -> Iterator[None]:
    """Run periodic jobs and every enqueued actor in this process, when there is no RabbitMQ.

    The app's lifespan wraps its life in this. With ``BROKER_URL`` set it does nothing: the jobs
    belong to ``sanyi scheduler`` and ``sanyi worker``.
    """
    if settings.broker_url:
        yield
        return
    import workers

    worker = dramatiq.Worker(workers.broker, worker_threads=EMBEDDED_WORKER_THREADS)
    scheduler = BackgroundScheduler(timezone=UTC)
    schedule(scheduler)
    worker.start()
    scheduler.start()
    try:
        yield
    finally:
        scheduler.shutdown(wait=False)
        worker.stop(timeout=EMBEDDED_STOP_TIMEOUT_MS)
