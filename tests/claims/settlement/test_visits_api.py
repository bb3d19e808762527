"""Visit registration (2201): internet follow-up compliance (docs/domain.md section 6)."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import Visit
from tests.support.factories.world import CLASS_A_ITEM, World, build_world


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session)


async def test_internet_followup_needs_a_prior_in_person_diagnosis(world: World) -> None:
    psn_no, certno = await world.enrol()
    refused = await world.visit(psn_no, certno, biz_type_code="02", expect=400)
    assert refused["code"] == "no_prior_inperson_diagnosis"
    # A different condition in person does not count; the same ICD-10 category does.
    await world.visit(psn_no, certno, diag="J45.900", when=datetime(2026, 1, 5, 9))
    assert (await world.visit(psn_no, certno, biz_type_code="02", expect=400))["code"] == (
        "no_prior_inperson_diagnosis"
    )
    await world.visit(psn_no, certno, diag="I10.x05", when=datetime(2026, 1, 6, 9))
    ok = await world.visit(psn_no, certno, biz_type_code="02")
    assert ok["insurance_payable"] is True


async def test_diagnosis_outside_the_lookback_window_does_not_count(world: World) -> None:
    psn_no, certno = await world.enrol()
    # More than 365 days before (and before the 2026 policy, so registered self-pay).
    await world.visit(psn_no, certno, when=datetime(2025, 2, 1, 9), selfpay_flag=True)
    refused = await world.visit(psn_no, certno, biz_type_code="02", expect=400)
    assert refused["code"] == "no_prior_inperson_diagnosis"


@pytest.mark.parametrize(
    ("doctor", "code"),
    [
        ("offline", "doctor_not_registered_for_internet"),
        ("junior", "doctor_practice_under_3_years"),
    ],
)
async def test_internet_visit_needs_a_qualified_doctor(
    world: World, doctor: str, code: str
) -> None:
    psn_no, certno = await world.enrol()
    await world.visit(psn_no, certno, when=datetime(2026, 1, 6, 9))
    refused = await world.visit(psn_no, certno, biz_type_code="02", dr=doctor, expect=400)
    assert refused["code"] == code


async def test_refused_visit_may_be_registered_as_self_pay(world: World) -> None:
    psn_no, certno = await world.enrol(acct_balc="500.00")
    visit = await world.visit(psn_no, certno, biz_type_code="02", selfpay_flag=True)
    assert visit["insurance_payable"] is False
    assert visit["refusal_code"] == "no_prior_inperson_diagnosis"
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    body = (await world.settle(visit["mdtrt_id"], acct_used_flag=True)).json()
    assert body["fund_pay_sumamt"] == "0.00"
    assert body["acct_pay"] == "0.00"
    assert body["psn_cash_pay"] == body["medfee_sumamt"] == "100.00"


async def test_chronic_outpatient_needs_a_qualification(world: World) -> None:
    psn_no, certno = await world.enrol(insutype="390")
    refused = await world.visit(psn_no, certno, med_type="14", expect=400)
    assert refused["code"] == "not_qualified_for_chronic_outpatient"


async def test_certificate_must_match_the_person(world: World) -> None:
    """Another person's certificate reads exactly as an unknown psn_no: no oracle of who is
    insured."""
    psn_no, _ = await world.enrol()
    _, other_certno = await world.enrol()
    refused = await world.visit(psn_no, other_certno, expect=404)
    unknown = await world.visit("P" + "0" * 16, other_certno, expect=404)
    assert refused == unknown
    assert (refused["code"], refused["field"]) == ("unknown_person", "psn_no")


async def test_an_unverified_voucher_token_registers_no_visit(
    world: World, session: AsyncSession
) -> None:
    """Until voucher tokens are verified, 01 names nobody: one refusal whether or not the psn_no
    is insured, and nothing written."""
    psn_no, _ = await world.enrol()
    answers = [
        await world.visit(number, "", mdtrt_cert_type="01", mdtrt_cert_no="any-token", expect=400)
        for number in (psn_no, "P" + "0" * 16)
    ]

    assert answers[0] == answers[1]
    assert (answers[0]["code"], answers[0]["field"]) == (
        "unsupported_certificate_type",
        "mdtrt_cert_type",
    )
    visits = select(func.count()).select_from(Visit).where(Visit.psn_no == psn_no)
    assert await session.scalar(visits) == 0
