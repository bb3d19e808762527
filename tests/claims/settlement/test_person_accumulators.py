"""A person's read shows the year's accumulators against each deductible and cap in force."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.factories.world import CLASS_A_ITEM, World, build_world


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session, hospital_levels=(3, 3))


async def read(world: World, psn_no: str, **params: Any) -> httpx.Response:
    return await world.client.get(f"/v1/persons/{psn_no}", params=params, headers=world.insurer)


def benefit(body: dict[str, Any], med_type: str, hosp_lv: int | None) -> dict[str, Any]:
    (found,) = (
        b for b in body["benefits"] if b["med_type"] == med_type and b["hosp_lv"] == hosp_lv
    )
    return found


async def test_a_new_person_has_every_deductible_and_cap_ahead(world: World) -> None:
    psn_no, _ = await world.enrol(insutype="310")
    response = await read(world, psn_no, year=2026)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["year"] == 2026
    assert {(b["med_type"], b["hosp_lv"]) for b in body["benefits"]} == {
        ("11", 1),
        ("11", 2),
        ("11", 3),
        ("14", None),
        ("41", 1),
    }
    assert benefit(body, "11", 3) == {
        "med_type": "11",
        "hosp_lv": 3,
        "acc_category": "310-11",
        "deductible": "200.00",
        "deductible_used": "0.00",
        "deductible_remaining": "200.00",
        "annual_cap": "5000.00",
        "hifp_paid": "0.00",
        "cap_remaining": "5000.00",
    }
    # Pharmacy purchases count in the general-outpatient bucket.
    assert benefit(body, "41", 1)["acc_category"] == "310-11"
    assert body["critical_illness"] is None  # employees' insutype has none in this region
    assert body["assistance_paid"] == "0.00"


async def test_a_settlement_moves_the_read(world: World) -> None:
    psn_no, certno = await world.enrol(insutype="310")
    visit = await world.visit(psn_no, certno)
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "300.00")])
    settled = (await world.settle(visit["mdtrt_id"])).json()
    assert settled["act_pay_dedc"] == "200.00"
    body = (await read(world, psn_no, year=2026)).json()
    outpatient = benefit(body, "11", 3)
    assert outpatient["deductible_used"] == "200.00"
    assert outpatient["deductible_remaining"] == "0.00"
    assert outpatient["hifp_paid"] == settled["hifp_pay"]
    paid_fen = int(settled["hifp_pay"].replace(".", ""))
    assert int(outpatient["cap_remaining"].replace(".", "")) == 500000 - paid_fen
    # The pharmacy benefit shares the bucket, so it shows the same figures.
    assert benefit(body, "41", 1)["deductible_used"] == "200.00"
    # Another category is untouched.
    assert benefit(body, "14", None)["hifp_paid"] == "0.00"


async def test_critical_illness_shows_what_is_left_to_the_threshold(world: World) -> None:
    psn_no, _ = await world.enrol(insutype="390")
    await world.opening(psn_no, inscp_psn_cum="14800.00", critical_paid="100.00")
    body = (await read(world, psn_no, year=2026)).json()
    assert body["critical_illness"] == {
        "threshold": "15000.00",
        "inscp_psn_cum": "14800.00",
        "threshold_remaining": "200.00",
        "annual_cap": "300000.00",
        "critical_paid": "100.00",
        "cap_remaining": "299900.00",
    }


async def test_a_year_without_a_policy_in_force_shows_no_benefits(world: World) -> None:
    psn_no, _ = await world.enrol(insutype="310")
    body = (await read(world, psn_no, year=2025)).json()
    assert body["year"] == 2025
    assert body["benefits"] == []
    assert body["critical_illness"] is None


@pytest.mark.parametrize("year", ["1999", "2100", "twenty", "2026.0"])
async def test_an_impossible_year_is_refused(world: World, year: str) -> None:
    psn_no, _ = await world.enrol()
    response = await read(world, psn_no, year=year)
    assert response.status_code == 422
    assert response.json()["field"] == "year"


async def test_a_hospital_may_not_read_a_person(world: World) -> None:
    psn_no, _ = await world.enrol()
    _, headers = world.hospital(0)
    response = await world.client.get(f"/v1/persons/{psn_no}", headers=headers)
    assert response.status_code == 403
