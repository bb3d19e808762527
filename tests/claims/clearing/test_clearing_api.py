"""Clearing (3203) through the HTTP API (domain.md section 10): apply, approve and freeze a settled
month; a frozen month does not change when one of its settlements is revoked, and the next
month's batch carries the revocation as an adjustment; the pooled fund's payable after budget
withholding and bundle deductions; the CSV export; the refusals."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.audit import AuditEntry
from engine.auth import Role
from engine.clock import CST
from engine.outbox import OutboxEvent
from tests.support.factories.clearing import backdate, revoked, settled
from tests.support.factories.funding import budget_body
from tests.support.factories.orgs import make_key, make_org
from tests.support.factories.world import World, build_world

SEPTEMBER, OCTOBER = "202609", "202610"


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, hospital_levels=(3, 3))


async def _in_month(
    world: World, session: AsyncSession, setlym: str, day: int = 15, **kwargs: Any
) -> dict[str, Any]:
    settlement = await settled(world, **kwargs)
    when = datetime(int(setlym[:4]), int(setlym[4:]), day, 10, 0, tzinfo=CST)
    await backdate(session, settlement["setl_id"], when)
    return settlement


async def _apply(
    world: World, setlym: str, *, hospital: int = 0, key: str | None = None, expect: int = 201
) -> dict[str, Any]:
    response = await world.client.post(
        "/v1/clearing/batches",
        json={"setlym": setlym, "clr_type": "11"},
        headers=world.hospital(hospital)[1] | {"Idempotency-Key": key or uuid.uuid4().hex},
    )
    assert response.status_code == expect, response.text
    return dict(response.json())


async def _approve(
    world: World,
    batch_id: str,
    *,
    headers: dict[str, str] | None = None,
    key: str | None = None,
    expect: int = 200,
) -> dict[str, Any]:
    response = await world.client.post(
        f"/v1/clearing/batches/{batch_id}/approval",
        headers=(headers or world.insurer) | {"Idempotency-Key": key or uuid.uuid4().hex},
    )
    assert response.status_code == expect, response.text
    return dict(response.json())


async def _batch(world: World, batch_id: str) -> dict[str, Any]:
    response = await world.client.get(f"/v1/clearing/batches/{batch_id}", headers=world.insurer)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _lines(world: World, batch_id: str) -> list[dict[str, str]]:
    response = await world.client.get(
        f"/v1/clearing/batches/{batch_id}/lines.csv", headers=world.hospital(0)[1]
    )
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def _fund(batch: dict[str, Any], fund: str = "hifp_pay") -> dict[str, str]:
    return next(line for line in batch["funds"] if line["fund"] == fund)


async def test_frozen_month_keeps_its_figures_and_the_next_month_carries_the_revocation(
    world: World, session: AsyncSession
) -> None:
    early = await _in_month(world, session, SEPTEMBER, price="100.00")
    kept = await _in_month(world, session, SEPTEMBER, price="60.00")
    october = await _in_month(world, session, OCTOBER, price="30.00")

    applied = await _apply(world, SEPTEMBER)
    assert applied["clr_stas"] == "applied"
    assert applied["payable_sumamt"] is None and applied["funds"] == []
    september = await _approve(world, applied["clr_appy_evt_id"])
    assert september["clr_stas"] == "approved"
    assert (september["psntime"], september["adjustment_cnt"]) == (2, 0)
    assert september["medfee_sumamt"] == "160.00"
    assert september["fund_appy_sum"] == "80.00"
    assert september["cash_payamt"] == "80.00"
    assert _fund(september) == {
        "fund": "hifp_pay",
        "claimed": "80.00",
        "adjustment": "0.00",
        "bundle_deduction": "0.00",
        "dip_deduction": "0.00",
        "budget_withheld": "0.00",
        "budget_deferred": "0.00",
        "payable": "80.00",
    }
    assert september["payable_sumamt"] == "80.00"
    assert [line["fund"] for line in september["funds"]][:2] == ["hifp_pay", "cvlserv_pay"]
    september_lines = await _lines(world, september["clr_appy_evt_id"])

    await revoked(world, early)  # after the freeze

    assert await _batch(world, september["clr_appy_evt_id"]) == september
    assert await _lines(world, september["clr_appy_evt_id"]) == september_lines
    assert {line["setl_id"] for line in september_lines} == {early["setl_id"], kept["setl_id"]}

    next_month = await _approve(world, (await _apply(world, OCTOBER))["clr_appy_evt_id"])
    assert (next_month["psntime"], next_month["adjustment_cnt"]) == (1, 1)
    assert next_month["medfee_sumamt"] == "-70.00"  # 30.00 settled, 100.00 carried back
    assert (_fund(next_month)["claimed"], _fund(next_month)["adjustment"]) == ("15.00", "-50.00")
    assert _fund(next_month)["payable"] == "-35.00"
    assert next_month["payable_sumamt"] == "-35.00"
    lines = await _lines(world, next_month["clr_appy_evt_id"])
    assert [(line["kind"], line["setl_id"], line["hifp_pay"]) for line in lines] == [
        ("settlement", october["setl_id"], "15.00"),
        ("adjustment", early["setl_id"], "-50.00"),
    ]
    assert lines[1]["carried_from"] == september["clr_appy_evt_id"]
    assert lines[1]["revoked_at"] != ""

    code, _ = world.hospital(0)
    event = await session.scalar(
        select(OutboxEvent).where(OutboxEvent.routing_key == f"clearing.approved.{code}")
    )
    assert event is not None
    actions = set(
        await session.scalars(
            select(AuditEntry.action).where(AuditEntry.object_id == september["clr_appy_evt_id"])
        )
    )
    assert actions == {"clearing.applied", "clearing.approved"}


async def test_a_revocation_before_the_freeze_is_neither_cleared_nor_carried(
    world: World, session: AsyncSession
) -> None:
    gone = await _in_month(world, session, SEPTEMBER, price="100.00")
    await revoked(world, gone)
    september = await _approve(world, (await _apply(world, SEPTEMBER))["clr_appy_evt_id"])
    assert (september["psntime"], september["payable_sumamt"]) == (0, "0.00")
    october = await _approve(world, (await _apply(world, OCTOBER))["clr_appy_evt_id"])
    assert october["adjustment_cnt"] == 0


async def test_budget_withholding_and_the_monthly_cap(world: World, session: AsyncSession) -> None:
    code, _ = world.hospital(0)
    # B = 1,200.00: the monthly cap B/12 is 100.00, 5% withheld.
    created = await world.client.post(
        "/v1/funding/budgets", json=budget_body(code, 2026, "1200.00"), headers=world.insurer
    )
    assert created.status_code == 201, created.text
    for _ in range(3):
        await _in_month(world, session, OCTOBER, price="100.00")  # 50.00 pooled fund each
    batch = await _approve(world, (await _apply(world, OCTOBER))["clr_appy_evt_id"])
    assert _fund(batch) == {
        "fund": "hifp_pay",
        "claimed": "150.00",
        "adjustment": "0.00",
        "bundle_deduction": "0.00",
        "dip_deduction": "0.00",
        "budget_withheld": "5.00",
        "budget_deferred": "50.00",
        "payable": "95.00",
    }
    assert batch["budget"] == {
        "budget_amt": "1200.00",
        "monthly_cap": "100.00",
        "withhold_ratio": "0.0500",
        "fund_share": "150.00",
        "gross": "100.00",
        "prepaid": "95.00",
        "withheld": "5.00",
        "deferred": "50.00",
        "run_fund_share": "150.00",
        "deferred_at_run": "50.00",
        "since_run": "0.00",
        "month_fund_share": "150.00",
        "month_gross": "100.00",
        "month_prepaid": "95.00",
        "month_withheld": "5.00",
    }


async def test_care_of_bundle_members_at_the_holder_is_deducted(
    world: World, session: AsyncSession
) -> None:
    code, _ = world.hospital(0)
    created = await world.client.post(
        "/v1/funding/bundles",
        json={
            "admdvs": world.admdvs,
            "fixmedins_code": code,
            "year": 2026,
            "rate_per_member_month": "10.00",
            "surplus_retention_ratio": "0.50",
            "withhold_ratio": "0.05",
            "quality_full_score": "90",
            "quality_zero_score": "60",
        },
        headers=world.insurer,
    )
    assert created.status_code == 201, created.text
    member, certno = await world.enrol(insutype="390")
    signed = await world.client.post(
        f"/v1/funding/bundles/{code}/2026/members",
        json={"members": [{"psn_no": member, "sign_date": "2026-01-01"}]},
        headers=world.insurer,
    )
    assert signed.status_code == 200, signed.text
    visit = await world.visit(member, certno, dr=None)
    await world.fees(visit["mdtrt_id"], [("XCLASSA0000001", "1", "80.00")])
    care = await world.settle(visit["mdtrt_id"])
    assert care.json()["clr_way"] == "04"
    await backdate(session, care.json()["setl_id"], datetime(2026, 10, 5, tzinfo=CST))
    await _in_month(world, session, OCTOBER, price="100.00")  # a non-member, item by item

    batch = await _approve(world, (await _apply(world, OCTOBER))["clr_appy_evt_id"])
    assert (_fund(batch)["claimed"], _fund(batch)["bundle_deduction"]) == ("90.00", "40.00")
    assert _fund(batch)["payable"] == "50.00"
    routes = {
        line["setl_id"]: line["hifp_route"]
        for line in await _lines(world, batch["clr_appy_evt_id"])
    }
    assert routes[care.json()["setl_id"]] == "bundle"


async def test_apply_and_approve_are_idempotent_and_once_only(
    world: World, session: AsyncSession
) -> None:
    await _in_month(world, session, SEPTEMBER)
    first = await _apply(world, SEPTEMBER, key="apply-september")
    assert await _apply(world, SEPTEMBER, key="apply-september") == first
    again = await _apply(world, SEPTEMBER, expect=409)
    assert again["code"] == "already_applied"
    approved = await _approve(world, first["clr_appy_evt_id"], key="approve-september")
    replay = await _approve(world, first["clr_appy_evt_id"], key="approve-september")
    assert replay == approved
    twice = await _approve(world, first["clr_appy_evt_id"], expect=409)
    assert twice["code"] == "already_approved"


async def test_clearing_refusals(world: World, session: AsyncSession) -> None:
    current = f"{datetime.now(CST):%Y%m}"
    refused = await _apply(world, current, expect=400)
    assert refused["code"] == "period_not_over"
    batch = await _apply(world, SEPTEMBER)
    hospital = await _approve(
        world, batch["clr_appy_evt_id"], headers=world.hospital(0)[1], expect=403
    )
    assert hospital["code"] == "forbidden"
    elsewhere = await make_key(session, await make_org(session, role=Role.insurer, admdvs="230200"))
    await _approve(world, batch["clr_appy_evt_id"], headers=elsewhere, expect=404)
    other = await world.client.get(
        f"/v1/clearing/batches/{batch['clr_appy_evt_id']}", headers=world.hospital(1)[1]
    )
    assert other.status_code == 404


async def test_listing_batches(world: World, session: AsyncSession) -> None:
    await _apply(world, SEPTEMBER)
    await _apply(world, SEPTEMBER, hospital=1)
    region = await world.client.get(
        "/v1/clearing/batches", params={"setlym": SEPTEMBER}, headers=world.insurer
    )
    assert len(region.json()["items"]) == 2
    own = await world.client.get(
        "/v1/clearing/batches", params={"clr_stas": "applied"}, headers=world.hospital(1)[1]
    )
    assert [b["fixmedins_code"] for b in own.json()["items"]] == [world.hospital(1)[0]]
