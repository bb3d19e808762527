"""Enrolment and opening balances (insurer), resident-ID handling."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import BenefitAccumulator, Person
from claims.settlement.service.persons import mask_resident_id
from engine.audit import AuditEntry
from tests.support.factories.world import CLASS_A_ITEM, World, build_world, make_certno


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await build_world(client, session)


def test_masking_keeps_the_region_and_the_last_four() -> None:
    assert mask_resident_id("11010519491231002x") == "110105********002X"


async def test_enrolment_stores_no_resident_id(world: World, session: AsyncSession) -> None:
    psn_no, certno = await world.enrol(acct_balc="88.00")
    person = await session.get_one(Person, psn_no)
    assert certno not in (person.certno_masked, person.certno_hash)
    assert person.certno_masked.startswith(certno[:6]) and "*" in person.certno_masked
    entries = (
        await session.scalars(select(AuditEntry).where(AuditEntry.object_id == psn_no))
    ).all()
    assert entries and all(certno not in str(e.payload) for e in entries)
    shown = await world.client.get(f"/v1/persons/{psn_no}", headers=world.insurer)
    assert shown.json()["acct_balc"] == "88.00"
    assert certno not in shown.text


async def test_bad_or_duplicate_enrolment_is_refused(world: World) -> None:
    base = {"psn_name": "x", "admdvs": world.admdvs, "insutype": "310"}
    bad = await world.client.post(
        "/v1/persons",
        headers=world.insurer,
        json=base | {"psn_no": "A1", "certno": "110105194912310021"},
    )
    assert (bad.status_code, bad.json()["code"], bad.json()["field"]) == (
        422,
        "validation_error",
        "certno",
    )
    _, certno = await world.enrol()
    dup = await world.client.post(
        "/v1/persons", headers=world.insurer, json=base | {"psn_no": "A2", "certno": certno}
    )
    assert (dup.status_code, dup.json()["code"]) == (409, "duplicate_certno")
    other_region = await world.client.post(
        "/v1/persons",
        headers=world.insurer,
        json=base | {"psn_no": "A3", "certno": make_certno(), "admdvs": "510100"},
    )
    assert other_region.status_code == 403


async def test_opening_balances_are_applied_audited_and_frozen_after_a_settlement(
    world: World, session: AsyncSession
) -> None:
    psn_no, certno = await world.enrol()
    await world.opening(
        psn_no,
        acct_balc="300.00",
        categories=[
            {"insutype": "310", "med_type": "11", "deductible_used": "120.00", "hifp_paid": "40.00"}
        ],
    )
    row = await session.get_one(BenefitAccumulator, (psn_no, 2026, "310-11"))
    assert (row.deductible_used, row.hifp_paid) == (12000, 4000)
    actions = (
        await session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == psn_no))
    ).all()
    assert "person.opening_balances_loaded" in actions

    visit = await world.visit(psn_no, certno)
    await world.fees(visit["mdtrt_id"], [(CLASS_A_ITEM, "1", "100.00")])
    assert (await world.settle(visit["mdtrt_id"])).status_code == 201
    late = await world.client.post(
        f"/v1/persons/{psn_no}/opening-balances", json={"year": 2026}, headers=world.insurer
    )
    assert (late.status_code, late.json()["code"]) == (409, "opening_after_settlement")
