"""Concurrent cross-region settlements of one person, raced on real PostgreSQL connections: the
person's ledger in the insured place guards the insured place's cap whatever institution of
whatever region settles, and one Idempotency-Key settles once."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from claims.clearing.models import InterRegionClaim
from claims.settlement.models import BenefitAccumulator
from engine.app import create_app
from engine.db import Database
from engine.settings import Settings
from tests.claims.settlement.test_settlement_races import fen_of
from tests.support.factories.crossregion import CrossRegion, treatment_world
from tests.support.factories.settlement import settlements_of
from tests.support.factories.world import build_world

pytestmark = pytest.mark.postgres_only


@pytest.fixture
async def committed(database: Database) -> AsyncIterator[CrossRegion]:
    """Two regions of their own, committed for real on the real engine."""
    app = create_app(Settings(database_url="postgresql+psycopg://unused"), db=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://sanyi.test", timeout=60) as client,
        database.sessionmaker() as session,
    ):
        home = await build_world(client, session, admdvs=f"8{secrets.randbelow(10**5):05d}")
        away = await treatment_world(client, session, admdvs=f"7{secrets.randbelow(10**5):05d}")
        await session.commit()
        yield CrossRegion(home=home, away=away)


async def test_concurrent_cross_region_settles_of_one_person_never_pass_the_cap(
    committed: CrossRegion, database: Database
) -> None:
    """20 visits at B's two hospitals, each worth 75.40 at A's full ratio, with 100.00 left of
    A's 800.00 cap: together they pay exactly the 100.00, never more."""
    xr = committed
    psn_no, certno = await xr.insured("long_term_residence")
    opening = {"insutype": "390", "med_type": "11", "deductible_used": "0", "hifp_paid": "700.00"}
    await xr.home.opening(psn_no, categories=[opening])
    visits = [await xr.visit_with_lines(psn_no, certno, hospital=i % 2) for i in range(20)]
    responses = await asyncio.gather(
        *(xr.away.settle(v["mdtrt_id"], hospital=i % 2) for i, v in enumerate(visits))
    )
    assert [r.status_code for r in responses] == [201] * 20
    assert sum(fen_of(r.json()["hifp_pay"]) for r in responses) == 10000
    async with database.sessionmaker() as session:
        accumulator = await session.get_one(BenefitAccumulator, (psn_no, 2026, "390-11"))
        assert accumulator.hifp_paid == 80000


async def test_one_key_settles_a_cross_region_visit_once(
    committed: CrossRegion, database: Database
) -> None:
    xr = committed
    psn_no, certno = await xr.insured("temporary_travel")
    visit = await xr.visit_with_lines(psn_no, certno)
    key = f"race-{uuid.uuid4().hex}"
    responses = await asyncio.gather(
        *(xr.away.settle(visit["mdtrt_id"], key=key) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {201}
    assert {r.json()["setl_id"] for r in responses} == {responses[0].json()["setl_id"]}
    assert responses[0].json()["hifp_pay"] == "60.32"
    async with database.sessionmaker() as session:
        assert await settlements_of(session, visit["mdtrt_id"]) == 1


async def test_one_months_claim_made_at_once_is_made_once(
    committed: CrossRegion, database: Database
) -> None:
    """Ten requests for the same month's claim, with different keys: one claim, the others
    ``claim_exists``, never a server error."""
    xr = committed
    responses = await asyncio.gather(
        *(
            xr.away.client.post(
                "/v1/cross-region/claims",
                json={"insuplc_admdvs": xr.home.admdvs, "setlym": "202609"},
                headers=xr.away.insurer | {"Idempotency-Key": uuid.uuid4().hex},
            )
            for _ in range(10)
        )
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"claim_exists"}
    async with database.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(InterRegionClaim)
            .where(InterRegionClaim.mdtrtarea_admvs == xr.away.admdvs)
        )
    assert count == 1
