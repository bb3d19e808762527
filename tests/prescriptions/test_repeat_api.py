"""Dispensing a repeat prescription in portions through the HTTP API (domain.md section 9; issue
6, judged): ``max_rept_cnt`` 3 and ``min_inrv_days`` 28 dispense on days 0, 28 and 56, and refuse
day 20 and a fourth time. "Today" is the request clock, set by the test."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import Settlement
from tests.prescriptions.world import RxWorld, build_rx_world, day


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, session: AsyncSession) -> RxWorld:
    return await build_rx_world(app, client, session)


async def test_three_portions_twenty_eight_days_apart(
    world: RxWorld, session: AsyncSession
) -> None:
    code, headers = world.pharmacy(0)
    patient, hi_rxno, _ = await world.issue(nominate=code, repeat=True)

    async def attempt(on: int) -> httpx.Response:
        world.at(day(on))
        locked = await world.lock(0, hi_rxno)
        if locked.status_code != 200:
            return locked
        return await world.dispense(0, hi_rxno)

    first = await attempt(0)
    assert first.status_code == 201, first.text
    assert (first.json()["dspe_cnt"], first.json()["status"]) == (1, "circulating")

    too_soon = await attempt(20)  # past vali_end_time too: only the repeat rules apply now
    assert (too_soon.status_code, too_soon.json()["code"], too_soon.json()["field"]) == (
        409,
        "repeat_interval_not_met",
        "min_inrv_days",
    )
    assert day(28).date().isoformat() in too_soon.json()["message"]
    await world.client.post(f"/v1/prescriptions/{hi_rxno}/return", headers=headers)

    assert (await attempt(28)).status_code == 201
    third = await attempt(56)
    assert third.status_code == 201, third.text
    assert (third.json()["dspe_cnt"], third.json()["status"], third.json()["rx_stas_codg"]) == (
        3,
        "dispensed",
        "2",
    )

    fourth = await attempt(84)
    assert (fourth.status_code, fourth.json()["code"]) == (409, "dispense_limit_reached")
    fourth_dispense = await world.dispense(0, hi_rxno)
    assert fourth_dispense.json()["code"] == "dispense_limit_reached"

    shown = (await world.get(hi_rxno, headers)).json()
    # 10:00 in China is 02:00 UTC the same day.
    assert [(d["dspe_seq"], d["dspe_time"][:10]) for d in shown["dispenses"]] == [
        (1, day(0).date().isoformat()),
        (2, day(28).date().isoformat()),
        (3, day(56).date().isoformat()),
    ]
    settled = await session.scalar(
        select(func.count())
        .select_from(Settlement)
        .where(Settlement.psn_no == patient.psn_no, Settlement.med_type == "41")
    )
    assert settled == 3


async def test_all_portions_together_stay_within_the_prescribed_quantity(
    world: RxWorld,
) -> None:
    code, _ = world.pharmacy(0)
    _, hi_rxno, _ = await world.issue(nominate=code, repeat=True)
    await world.lock(0, hi_rxno)
    assert (await world.dispense(0, hi_rxno, cnt="2")).status_code == 201
    world.at(day(28))
    await world.lock(0, hi_rxno)
    more = await world.dispense(0, hi_rxno, cnt="2")
    assert (more.json()["code"], more.json()["field"]) == (
        "quantity_exceeds_prescription",
        "dspe_lines.0.cnt",
    )
    assert (await world.dispense(0, hi_rxno, cnt="1")).status_code == 201


async def test_a_repeat_prescription_never_dispensed_expires_with_its_validity(
    world: RxWorld,
) -> None:
    code, headers = world.pharmacy(0)
    _, hi_rxno, _ = await world.issue(nominate=code, repeat=True)
    world.at(day(3, 0))
    refused = await world.lock(0, hi_rxno)
    assert (refused.status_code, refused.json()["code"]) == (409, "prescription_expired")
    assert (await world.get(hi_rxno, headers)).json()["rx_stas_codg"] == "2"
