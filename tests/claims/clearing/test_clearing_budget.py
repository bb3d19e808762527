"""One cash instruction per month: the clearing batch (3203) pays a global budget's month exactly as
the funding ledger's prepayment records it, through the HTTP API (docs/reconciliation.md, "The
global budget's month").

The hospital's budget is B = 1,200.00 (B/12 = 100.00, 5% withheld); each settlement is a resident's
outpatient visit with the pooled fund paying 50% of the price.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding.models import FundingCaseEntry, FundingLedgerEntry, GlobalBudget
from engine.audit import AuditEntry
from engine.clock import CST, local_date
from engine.db import utcnow
from engine.outbox import OutboxEvent
from tests.support.factories.clearing import backdate, revoked, settled
from tests.support.factories.funding import budget_body
from tests.support.factories.world import World, build_world

SEPTEMBER, OCTOBER = "202609", "202610"


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, hospital_levels=(3,))


async def _budgeted(world: World) -> str:
    code, _ = world.hospital(0)
    created = await world.client.post(
        "/v1/funding/budgets", json=budget_body(code, 2026, "1200.00"), headers=world.insurer
    )
    assert created.status_code == 201, created.text
    return code


async def _in_month(
    world: World, session: AsyncSession, setlym: str, price: str, med_type: str = "11"
) -> dict[str, Any]:
    settlement = await settled(world, price=price, med_type=med_type)
    when = datetime(int(setlym[:4]), int(setlym[4:]), 15, 10, 0, tzinfo=CST)
    await backdate(session, settlement["setl_id"], when)
    return settlement


async def _run(world: World, setlym: str) -> dict[str, Any]:
    """The month run; the budget's prepayment in it."""
    response = await world.client.post(
        f"/v1/funding/regions/{world.admdvs}/{setlym[:4]}/months/{int(setlym[4:])}/prepayment",
        headers=world.insurer,
    )
    assert response.status_code == 200, response.text
    [prepayment] = response.json()["prepayments"]
    return dict(prepayment)


async def _cleared(world: World, setlym: str, clr_type: str = "11") -> dict[str, Any]:
    """Apply for the month and approve it: the frozen batch."""
    applied = await world.client.post(
        "/v1/clearing/batches",
        json={"setlym": setlym, "clr_type": clr_type},
        headers=world.hospital(0)[1] | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert applied.status_code == 201, applied.text
    approved = await world.client.post(
        f"/v1/clearing/batches/{applied.json()['clr_appy_evt_id']}/approval",
        headers=world.insurer | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert approved.status_code == 200, approved.text
    return dict(approved.json())


def _pooled(batch: dict[str, Any]) -> dict[str, str]:
    return next(line for line in batch["funds"] if line["fund"] == "hifp_pay")


async def _ledger(session: AsyncSession, code: str, month: int) -> dict[str, tuple[int, int]]:
    """(entries, fen) per kind of the budget's ledger for the month."""
    rows = await session.execute(
        select(FundingLedgerEntry.kind, func.count(), func.sum(FundingLedgerEntry.amount))
        .where(FundingLedgerEntry.fixmedins_code == code, FundingLedgerEntry.period == month)
        .group_by(FundingLedgerEntry.kind)
    )
    return {kind: (count, int(total)) for kind, count, total in rows}


def _same_month(prepayment: dict[str, Any], batch: dict[str, Any]) -> None:
    """The batch's budget figures are the ledger's prepayment of the month."""
    assert {
        "fund_share": batch["budget"]["month_fund_share"],
        "gross": batch["budget"]["month_gross"],
        "prepaid": batch["budget"]["month_prepaid"],
        "withheld": batch["budget"]["month_withheld"],
    } == {
        "fund_share": prepayment["basis"]["fund_share"],
        "gross": prepayment["gross"],
        "prepaid": prepayment["prepaid"],
        "withheld": prepayment["withheld"],
    }


async def test_the_batch_pays_the_month_as_the_run_prepaid_it(
    world: World, session: AsyncSession
) -> None:
    code = await _budgeted(world)
    for _ in range(3):
        await _in_month(world, session, OCTOBER, "100.00")  # 150.00 fund share, 100.00 cap
    prepayment = await _run(world, OCTOBER)
    assert (prepayment["gross"], prepayment["prepaid"], prepayment["withheld"]) == (
        "100.00",
        "95.00",
        "5.00",
    )
    assert prepayment["basis"] == {
        "fund_share": "150.00",
        "monthly_cap": "100.00",
        "fund_share_11": "150.00",
        "gross_11": "100.00",
        "prepaid_11": "95.00",
        "withheld_11": "5.00",
    }

    batch = await _cleared(world, OCTOBER)
    _same_month(prepayment, batch)
    assert _pooled(batch) == {
        "fund": "hifp_pay",
        "claimed": "150.00",
        "adjustment": "0.00",
        "bundle_deduction": "0.00",
        "dip_deduction": "0.00",
        "budget_withheld": "5.00",
        "budget_deferred": "50.00",
        "payable": "95.00",
    }
    assert await _ledger(session, code, 10) == {"prepaid": (1, 9_500), "withheld": (1, 500)}
    assert await _run(world, OCTOBER) == prepayment
    assert await _ledger(session, code, 10) == {"prepaid": (1, 9_500), "withheld": (1, 500)}


async def test_approval_before_the_run_makes_the_prepayment_once(
    world: World, session: AsyncSession
) -> None:
    code = await _budgeted(world)
    for _ in range(3):
        await _in_month(world, session, OCTOBER, "100.00")
    assert await _ledger(session, code, 10) == {}

    batch = await _cleared(world, OCTOBER)
    assert (_pooled(batch)["budget_withheld"], _pooled(batch)["payable"]) == ("5.00", "95.00")
    assert await _ledger(session, code, 10) == {"prepaid": (1, 9_500), "withheld": (1, 500)}

    prepayment = await _run(world, OCTOBER)  # the scheduled run comes later: it pays nothing more
    _same_month(prepayment, batch)
    assert await _ledger(session, code, 10) == {"prepaid": (1, 9_500), "withheld": (1, 500)}
    budget = await world.client.get(f"/v1/funding/budgets/{code}/2026", headers=world.insurer)
    prepaid_audits = await session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.action == "global_budget.month_prepaid",
            AuditEntry.object_id == budget.json()["id"],
        )
    )
    assert prepaid_audits == 1
    [event] = await session.scalars(
        select(OutboxEvent.payload).where(OutboxEvent.routing_key == f"funding.prepaid.{code}")
    )
    # A record of the month for subscribers: the cash instruction is clearing.approved.
    assert (event["scheme"], event["month"], event["prepaid"]) == ("global_budget", 10, "95.00")


async def test_clr_types_share_the_month_and_together_pay_it_once(
    world: World, session: AsyncSession
) -> None:
    """The budget caps the institution's whole month: outpatient (11) and pharmacy (41) batches
    each pay their part of the one prepayment, in proportion to their fund share."""
    code = await _budgeted(world)
    for _ in range(3):
        await _in_month(world, session, OCTOBER, "100.00")  # 150.00 outpatient
    await _in_month(world, session, OCTOBER, "100.00", med_type="41")  # 50.00 dispensed
    prepayment = await _run(world, OCTOBER)
    assert (prepayment["basis"]["fund_share"], prepayment["prepaid"]) == ("200.00", "95.00")

    outpatient, pharmacy = await _cleared(world, OCTOBER), await _cleared(world, OCTOBER, "41")
    for batch in (outpatient, pharmacy):
        _same_month(prepayment, batch)
    figures = ("claimed", "budget_withheld", "budget_deferred", "payable")
    assert [tuple(_pooled(b)[k] for k in figures) for b in (outpatient, pharmacy)] == [
        ("150.00", "3.75", "75.00", "71.25"),  # 3/4 of the 100.00 gross
        ("50.00", "1.25", "25.00", "23.75"),  # 1/4
    ]
    assert await _ledger(session, code, 10) == {"prepaid": (1, 9_500), "withheld": (1, 500)}


async def test_a_revocation_between_the_run_and_the_approval(
    world: World, session: AsyncSession
) -> None:
    """September is prepaid on 150.00; one settlement is revoked in October, before September is
    approved. September's batch does not clear it, yet pays the 95.00 the ledger prepaid (the
    difference shows as ``since_run``); October's run absorbs the revocation and October's batch
    shows the other side of it. Each month pays exactly its prepayment."""
    code = await _budgeted(world)
    gone = await _in_month(world, session, SEPTEMBER, "100.00")
    for _ in range(2):
        await _in_month(world, session, SEPTEMBER, "100.00")
    september_run = await _run(world, SEPTEMBER)
    assert september_run["prepaid"] == "95.00"
    await revoked(world, gone)
    await _revoked_in(session, gone["setl_id"], datetime(2026, 10, 3, 9, 0, tzinfo=CST))
    await _in_month(world, session, OCTOBER, "30.00")

    september = await _cleared(world, SEPTEMBER)
    _same_month(september_run, september)
    assert (september["psntime"], _pooled(september)["claimed"]) == (2, "100.00")
    assert _pooled(september)["payable"] == "95.00"
    assert {k: september["budget"][k] for k in ("deferred", "deferred_at_run", "since_run")} == {
        "deferred": "0.00",  # 100.00 frozen − 100.00 gross
        "deferred_at_run": "50.00",  # 150.00 when the month ran, capped at 100.00
        "since_run": "-50.00",  # revoked after the run
    }

    october_run = await _run(world, OCTOBER)  # 15.00 settled − 50.00 revoked: nothing to prepay
    assert (october_run["basis"]["fund_share"], october_run["prepaid"]) == ("-35.00", "0.00")
    october = await _cleared(world, OCTOBER)
    _same_month(october_run, october)
    assert (october["adjustment_cnt"], _pooled(october)["claimed"]) == (0, "15.00")
    assert _pooled(october)["payable"] == "0.00"
    assert {k: october["budget"][k] for k in ("deferred", "deferred_at_run", "since_run")} == {
        "deferred": "15.00",  # to the year-end clearing
        "deferred_at_run": "-35.00",
        "since_run": "50.00",  # the revocation the batch does not carry
    }
    assert await _ledger(session, code, 9) == {"prepaid": (1, 9_500), "withheld": (1, 500)}
    assert await _ledger(session, code, 10) == {"prepaid": (1, 0), "withheld": (1, 0)}


async def _revoked_in(session: AsyncSession, setl_id: str, when: datetime) -> None:
    """Date a revocation's funding entries as if it had been made at ``when``."""
    on = local_date(when)
    await session.execute(
        update(FundingCaseEntry)
        .where(FundingCaseEntry.setl_id == setl_id, FundingCaseEntry.reverses_id.is_not(None))
        .values(year=on.year, month=on.month, occurred_at=when)
    )
    await session.commit()


async def test_without_a_budget_the_batch_pays_the_item_share(
    world: World, session: AsyncSession
) -> None:
    code, _ = world.hospital(0)
    await _in_month(world, session, OCTOBER, "100.00")
    batch = await _cleared(world, OCTOBER)
    assert batch["budget"] is None
    assert (_pooled(batch)["budget_deferred"], _pooled(batch)["payable"]) == ("0.00", "50.00")
    assert await _ledger(session, code, 10) == {}


async def test_a_year_cleared_before_the_month_was_prepaid_leaves_it_to_the_year_end(
    world: World, session: AsyncSession
) -> None:
    """The year-end clearing counted the month's fund share and paid it; the batch pays none of it
    again and writes no prepayment into a cleared year."""
    code = await _budgeted(world)
    await _in_month(world, session, OCTOBER, "100.00")
    await session.execute(
        update(GlobalBudget).where(GlobalBudget.fixmedins_code == code).values(cleared_at=utcnow())
    )
    await session.commit()
    batch = await _cleared(world, OCTOBER)
    assert (_pooled(batch)["budget_deferred"], _pooled(batch)["payable"]) == ("50.00", "0.00")
    assert (batch["budget"]["month_prepaid"], batch["budget"]["gross"]) == ("0.00", "0.00")
    assert await _ledger(session, code, 10) == {}
