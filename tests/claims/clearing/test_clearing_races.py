"""Clearing under real concurrency on PostgreSQL (separate connections, committed work in a region
of its own): two approvals racing to carry the same revocation carry it once, two applications
for the same month make one batch, and approvals racing each other and the month run prepay a
global budget's month once, paid once by its batches."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import httpx
import pytest
from sqlalchemy import func, select

from claims.funding.models import FundingLedgerEntry
from engine.clock import CST
from engine.db import Database
from tests.support.factories.clearing import backdate, revoked, settled
from tests.support.factories.funding import budget_body
from tests.support.factories.world import World

pytestmark = pytest.mark.postgres_only


async def _apply(world: World, setlym: str, clr_type: str = "11") -> httpx.Response:
    return await world.client.post(
        "/v1/clearing/batches",
        json={"setlym": setlym, "clr_type": clr_type},
        headers=world.hospital(0)[1] | {"Idempotency-Key": uuid.uuid4().hex},
    )


async def _approve(world: World, batch_id: str) -> httpx.Response:
    return await world.client.post(
        f"/v1/clearing/batches/{batch_id}/approval",
        headers=world.insurer | {"Idempotency-Key": uuid.uuid4().hex},
    )


async def test_racing_approvals_carry_a_revocation_once(
    committed_world: World, database: Database
) -> None:
    world = committed_world
    july = await settled(world)
    async with database.sessionmaker() as session:
        await backdate(session, july["setl_id"], datetime(2026, 7, 10, tzinfo=CST))
        for month in (8, 9):
            later = await settled(world)
            await backdate(session, later["setl_id"], datetime(2026, month, 10, tzinfo=CST))
    frozen = await _approve(world, (await _apply(world, "202607")).json()["clr_appy_evt_id"])
    assert frozen.status_code == 200, frozen.text
    await revoked(world, july)

    batches = [(await _apply(world, setlym)).json() for setlym in ("202608", "202609")]
    approvals = await asyncio.gather(*(_approve(world, b["clr_appy_evt_id"]) for b in batches))
    assert [a.status_code for a in approvals] == [200, 200], [a.text for a in approvals]
    assert sorted(a.json()["adjustment_cnt"] for a in approvals) == [0, 1]
    assert sum(a.json()["psntime"] for a in approvals) == 2


async def test_racing_applications_make_one_batch(committed_world: World) -> None:
    responses = await asyncio.gather(*(_apply(committed_world, "202606") for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"already_applied"}


async def test_racing_approvals_and_runs_prepay_the_month_once(
    committed_world: World, database: Database
) -> None:
    """Both batches of May (outpatient 11, pharmacy 41), each approved twice, and the month run
    twice, all at once: one prepayment in the ledger, each batch approved once, and the two
    batches together pay exactly it."""
    world = committed_world
    code, _ = world.hospital(0)
    created = await world.client.post(
        "/v1/funding/budgets",
        json=budget_body(code, 2026, "1200.00") | {"admdvs": world.admdvs},
        headers=world.insurer,
    )
    assert created.status_code == 201, created.text
    async with database.sessionmaker() as session:
        for med_type in ("11", "11", "11", "41"):  # 150.00 + 50.00 pooled fund, 100.00 cap
            settlement = await settled(world, med_type=med_type)
            await backdate(session, settlement["setl_id"], datetime(2026, 5, 12, tzinfo=CST))
    batches = [(await _apply(world, "202605", t)).json()["clr_appy_evt_id"] for t in ("11", "41")]
    run = f"/v1/funding/regions/{world.admdvs}/2026/months/5/prepayment"
    responses = await asyncio.gather(
        *(_approve(world, batch) for batch in batches for _ in range(2)),
        *(world.client.post(run, headers=world.insurer) for _ in range(2)),
    )
    approvals, runs = responses[:4], responses[4:]
    assert [r.status_code for r in runs] == [200, 200], [r.text for r in runs]
    assert {p["prepaid"] for r in runs for p in r.json()["prepayments"]} == {"95.00"}
    for pair in (approvals[:2], approvals[2:]):
        assert sorted(r.status_code for r in pair) == [200, 409], [r.text for r in pair]
    approved = [r.json() for r in approvals if r.status_code == 200]
    pooled = [next(f for f in b["funds"] if f["fund"] == "hifp_pay") for b in approved]
    assert sorted((p["payable"], p["budget_withheld"]) for p in pooled) == [
        ("23.75", "1.25"),
        ("71.25", "3.75"),
    ]
    async with database.sessionmaker() as session:
        rows = await session.execute(
            select(FundingLedgerEntry.kind, func.count(), func.sum(FundingLedgerEntry.amount))
            .where(FundingLedgerEntry.fixmedins_code == code)
            .group_by(FundingLedgerEntry.kind)
        )
        assert {kind: (n, int(total)) for kind, n, total in rows} == {
            "prepaid": (1, 9_500),
            "withheld": (1, 500),
        }
