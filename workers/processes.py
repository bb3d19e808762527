"""The processes that fire periodic jobs (engine/scheduler.py holds their registry).

* :func:`scheduler_command` — ``sanyi scheduler``: with ``BROKER_URL`` set, exactly one such process
  sends each job's message to RabbitMQ when its trigger fires, and ``sanyi worker`` runs it;
* :func:`embedded_jobs` — inside ``sanyi serve`` without ``BROKER_URL``: the same scheduler and a
  dramatiq worker on the in-process broker.

Importing this module imports ``workers``: the broker, then every actor and its periodic job.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC

import dramatiq
import typer
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from engine import logs
from engine.scheduler import JOBS, schedule
from engine.settings import Settings, get_settings
from workers import broker

EMBEDDED_WORKER_THREADS = 4
EMBEDDED_STOP_TIMEOUT_MS = 10_000


def scheduler_command() -> None:
    """Enqueue the periodic jobs on their triggers until stopped; run one per deployment."""
    logs.configure(get_settings())
    if not get_settings().broker_url:
        typer.echo("BROKER_URL is not set: periodic jobs run inside `sanyi serve`.", err=True)
        raise typer.Exit(1)
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
    worker = dramatiq.Worker(broker, worker_threads=EMBEDDED_WORKER_THREADS)
    scheduler = BackgroundScheduler(timezone=UTC)
    schedule(scheduler)
    worker.start()
    scheduler.start()
    try:
        yield
    finally:
        scheduler.shutdown(wait=False)
        worker.stop(timeout=EMBEDDED_STOP_TIMEOUT_MS)
