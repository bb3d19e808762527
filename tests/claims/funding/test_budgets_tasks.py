"""The funding actors on dramatiq's StubBroker with a real Worker, against committed data.

Actors run their own unit of work against the configured database, so the test points
``DATABASE_URL`` at the test database and works in a pooling region of its own.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, select

from claims.funding import ledger as funding
from claims.funding import tasks as budget_tasks
from claims.funding.budgets import create_budget
from claims.funding.models import FundingLedgerEntry, GlobalBudget
from claims.funding.schemas import BudgetIn
from engine.clock import local_date
from engine.db import Database, unit_of_work, utcnow
from engine.errors import InvalidRequest
from tests.support.factories.funding import budget_body, facts, provider, settle

# Last year, in the region's time: over (so it can be cleared) and still due for catch-up runs.
YEAR = local_date(utcnow()).year - 1


async def _join(broker: StubBroker) -> None:
    await asyncio.to_thread(broker.join, budget_tasks.QUEUE, fail_fast=True)


async def _region_with_a_budget(database: Database) -> tuple[str, str]:
    region = f"8{secrets.randbelow(10**5):05d}"
    async with unit_of_work(database.sessionmaker) as session:
        code = await provider(session, region)
        body = budget_body(code, YEAR, "1200000.00") | {"admdvs": region}
        await create_budget(session, budget_tasks.WORKER, BudgetIn.model_validate(body))
        await settle(
            session, facts(code, datetime(YEAR, 2, 14, tzinfo=UTC), "2000.00", admdvs=region)
        )
    return region, code


async def _ledger(database: Database, region: str) -> dict[tuple[int, str], int]:
    async with database.sessionmaker() as session:
        rows = await session.execute(
            select(
                FundingLedgerEntry.period, FundingLedgerEntry.kind, FundingLedgerEntry.amount
            ).where(FundingLedgerEntry.admdvs == region)
        )
        return {(period, kind): amount for period, kind, amount in rows}


async def test_the_month_actor_pays_once_however_often_it_runs(
    stub_broker: StubBroker, database: Database
) -> None:
    region, _ = await _region_with_a_budget(database)
    for _ in range(3):
        budget_tasks.prepay_month.send(region, YEAR, 2)
    await _join(stub_broker)
    assert await _ledger(database, region) == {(2, "prepaid"): 190_000, (2, "withheld"): 10_000}


async def test_the_periodic_run_catches_up_every_ended_month(
    stub_broker: StubBroker, database: Database
) -> None:
    region, _ = await _region_with_a_budget(database)
    async with database.sessionmaker() as session:
        due = await funding.due_months(session)
    assert [(r, y, m) for r, y, m in due if r == region] == [
        (region, YEAR, m) for m in range(1, 13)
    ]
    budget_tasks.monthly_prepayments.send()
    await _join(stub_broker)
    ledger = await _ledger(database, region)
    assert {period for period, _ in ledger} == set(range(1, 13))
    assert ledger[(2, "prepaid")] == 190_000


async def test_the_year_end_actor_clears_and_a_refusal_is_not_retried(
    stub_broker: StubBroker, database: Database
) -> None:
    region, code = await _region_with_a_budget(database)
    refused = budget_tasks.clear_year.send(region, YEAR, {"H0NOBODY": "90"})
    with pytest.raises(InvalidRequest):
        await _join(stub_broker)
    [dead] = stub_broker.dead_letters
    assert dead.message_id == refused.message_id and not dead.options.get("retries")
    stub_broker.flush_all()
    budget_tasks.clear_year.send(region, YEAR, {code: "95"})
    await _join(stub_broker)
    async with database.sessionmaker() as session:
        cleared = await session.scalar(
            select(func.count())
            .select_from(GlobalBudget)
            .where(GlobalBudget.admdvs == region, GlobalBudget.cleared_at.is_not(None))
        )
    assert cleared == 1
    # Nothing prepaid: 2,000 + min(50% × 1,198,000, 60,000) = 62,000 paid by the clearing.
    assert (await _ledger(database, region))[(13, "clearing")] == 6_200_000
