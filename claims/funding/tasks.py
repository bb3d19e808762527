"""Dramatiq actors for the insurer's runs (docs/domain.md sections 7 and 8): thin, they call
``claims.funding.ledger``.

Both runs are idempotent by the ledger's unique key (scheme, provider, period, kind), so a retry
or a redelivered message answers with what was paid and pays nothing twice. The month run commits
step by step, a budget, the DIP scheme, a bundle (:func:`claims.funding.run_month_in_steps`): a
worker killed half-way keeps what it paid, and the message, acknowledged only after the actor
returns, is redelivered to another worker that pays the rest (docs/events.md "A run killed
half-way"). Refusals (:class:`~engine.errors.SanyiError`: a cleared year, a missing quality
score) are final, not retried.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import dramatiq
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import ledger
from claims.funding.schemas import QualityScoreIn
from engine.auth import Principal, Role
from engine.db import run_in_unit_of_work, run_with_database
from engine.errors import SanyiError
from engine.scheduler import periodic

#: Who the audit log names for runs made by a worker (as engine.auth.CLI_OPERATOR for the CLI).
WORKER = Principal(
    org_id=uuid.UUID(int=0),
    key_id="worker",
    role=Role.admin,
    institution_code=None,
    admdvs=None,
    on_server=True,
)
QUEUE = "funding"


@dramatiq.actor(queue_name=QUEUE, max_retries=5, min_backoff=30_000, throws=(SanyiError,))
def prepay_month(admdvs: str, year: int, month: int) -> None:
    """A region's monthly prepayment for every budget, DIP provider and bundle, step by step."""
    run_with_database(lambda db: ledger.run_month_in_steps(db, WORKER, admdvs, year, month))


@dramatiq.actor(queue_name=QUEUE, max_retries=5, min_backoff=30_000, throws=(SanyiError,))
def clear_year(admdvs: str, year: int, quality_scores: dict[str, str]) -> None:
    """A region's year-end clearing; ``quality_scores`` maps fixmedins_code to its score."""
    scores = [
        QualityScoreIn(fixmedins_code=code, quality_score=Decimal(score))
        for code, score in sorted(quality_scores.items())
    ]

    async def work(session: AsyncSession) -> object:
        return await ledger.clear_year(session, WORKER, admdvs, year, scores)

    run_in_unit_of_work(work)


@periodic(CronTrigger(day=1, hour=2, timezone="Asia/Shanghai"), name="claims.monthly_prepayments")
@dramatiq.actor(queue_name=QUEUE, max_retries=5, min_backoff=60_000, throws=())
def monthly_prepayments() -> None:
    """On the 1st of each month (region time), send every due month's run (catching up)."""
    for admdvs, year, month in run_in_unit_of_work(ledger.due_months):
        prepay_month.send(admdvs, year, month)
