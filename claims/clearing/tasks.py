"""Dramatiq actors for detail reconciliations submitted for a worker (3202, domain.md section 10):
thin, they call ``claims.clearing.reconciliation``.

The API never talks to the broker. A submission commits its upload and a ``queued`` job, and
:func:`dispatch_reconciliations`, enqueued every second by the scheduler (as the outbox relay
is), sends one :func:`reconcile_details` message per job not sent yet. So a rolled-back upload
is never run, and a committed one is never lost: with RabbitMQ down the job waits in the
database, and a job whose message went missing is sent again (``REDISPATCH_AFTER``).

:func:`reconcile_details` is idempotent by the job's state: a job done or failed is left alone,
and the diff, its result and the status ``done`` commit together
(:func:`claims.clearing.reconciliation.run_job`). A worker killed mid-diff never acknowledges its
message; RabbitMQ gives it to another worker, which diffs again from the staged rows. When the
retries run out the job is marked ``failed``.
"""

from __future__ import annotations

import uuid
from typing import Any

import dramatiq
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from claims.clearing import reconciliation
from engine.db import run_in_unit_of_work, run_with_database
from engine.scheduler import periodic

QUEUE = "reconciliation"


@dramatiq.actor(queue_name=QUEUE, max_retries=3, throws=())
def give_up_reconciliation(message: dict[str, Any], retries: dict[str, Any]) -> None:
    """``on_retry_exhausted`` of :func:`reconcile_details`: the job is ``failed``."""
    recon_id = uuid.UUID(message["args"][0])
    error = f"gave up after {retries['retries'] + 1} attempts"
    last = str(message.get("options", {}).get("traceback", "")).strip().splitlines()
    if last:
        error += f": {last[-1]}"

    async def work(session: AsyncSession) -> bool:
        return await reconciliation.fail_job(session, recon_id, error)

    run_in_unit_of_work(work)


@dramatiq.actor(
    queue_name=QUEUE,
    max_retries=5,
    min_backoff=10_000,
    max_backoff=300_000,
    # A million rows take seconds; the limit only stops a diff that hangs.
    time_limit=3_600_000,
    # The file was checked at submission: any error here is unexpected, so retried.
    throws=(),
    on_retry_exhausted=give_up_reconciliation.actor_name,
)
def reconcile_details(recon_id: str) -> None:
    """Diff a submitted job's staged file and store the result, once."""
    run_with_database(lambda db: reconciliation.run_job(db, uuid.UUID(recon_id)))


@periodic(IntervalTrigger(seconds=1), name="claims.dispatch_reconciliations")
@dramatiq.actor(
    # The next tick, a second later, is the retry.
    max_retries=0,
    min_backoff=1_000,
    throws=(OperationalError,),
    # A tick older than this has been overtaken by newer ones.
    max_age=30_000,
)
def dispatch_reconciliations() -> None:
    """Send a message for every job due one (marked sent in the same transaction)."""

    async def work(session: AsyncSession) -> None:
        for recon_id in await reconciliation.jobs_to_dispatch(session):
            reconcile_details.send(str(recon_id))

    run_in_unit_of_work(work)
