"""Typed factories for the funding tests (global budgets, DIP, bundles).

Settlements are recorded through the hooks settlement calls (``claims.funding``) with hand-made
:class:`SettlementFacts`, so each test controls exactly which fund share lands in which month.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import door
from claims.settlement.models import Person
from engine.auth import Organisation, Role
from engine.clock import local_date
from engine.money import cny
from tests.support.factories.orgs import make_key, make_org, unique_code

REGION = "230100"
OTHER_REGION = "230200"


async def insurer_headers(session: AsyncSession, admdvs: str = REGION) -> dict[str, str]:
    return await make_key(session, await make_org(session, role=Role.insurer, admdvs=admdvs))


async def insured(session: AsyncSession, *psn_nos: str, admdvs: str = REGION) -> None:
    """People insured in ``admdvs`` (bundles sign only those), each made unless it exists."""
    for psn_no in psn_nos:
        if await session.get(Person, psn_no) is None:
            session.add(
                Person(
                    psn_no=psn_no,
                    admdvs=admdvs,
                    psn_name="参保人",
                    certno_masked="230102********0000",
                    certno_hash=secrets.token_hex(32),
                    insutype="390",
                )
            )
    await session.flush()


async def provider(session: AsyncSession, admdvs: str = REGION) -> str:
    org: Organisation = await make_org(
        session, role=Role.hospital, admdvs=admdvs, institution_code=unique_code("H")
    )
    assert org.institution_code is not None
    return org.institution_code


def budget_body(fixmedins_code: str, year: int, budget_amt: str, **terms: Any) -> dict[str, Any]:
    """A budget with the demo terms of docs/domain.md section 7 unless ``terms`` says otherwise."""
    return {
        "admdvs": REGION,
        "fixmedins_code": fixmedins_code,
        "year": year,
        "budget_amt": budget_amt,
        "withhold_ratio": "0.05",
        "surplus_retention_ratio": "0.50",
        "surplus_retention_cap_ratio": "0.05",
        "overspend_share_ratio": "0.50",
        "overspend_corridor_ratio": "1.10",
        "quality_full_score": "90",
        "quality_zero_score": "60",
    } | terms


@dataclass(frozen=True, slots=True)
class Case:
    """A settlement as funding sees it, with what its route is looked up by."""

    facts: door.SettlementFacts
    psn_no: str
    med_type: str
    dise_codg: str | None

    @property
    def setl_id(self) -> str:
        return self.facts.setl_id


def facts(
    fixmedins_code: str,
    when: datetime,
    hifp_pay: str,
    *,
    psn_no: str | None = None,
    med_type: str = "11",
    dise_codg: str | None = "I10.x00",
    admdvs: str = REGION,
) -> Case:
    settlement = door.SettlementFacts(
        setl_id="S" + uuid.uuid4().hex[:20].upper(),
        fixmedins_code=fixmedins_code,
        admdvs=admdvs,
        setl_time=when,
        hifp_pay=cny(hifp_pay),
    )
    return Case(settlement, psn_no or "P" + uuid.uuid4().hex[:16].upper(), med_type, dise_codg)


async def route(session: AsyncSession, case: Case) -> door.Route:
    """The settlement's funding route, its lookups read as the settle path's claim read reads
    them (``claims.funding.door.route_lookup_columns``)."""
    columns = door.route_lookup_columns(
        bindparam("psn_no", case.psn_no),
        bindparam("admdvs", case.facts.admdvs),
        bindparam("icd_code", case.dise_codg),
    )
    params = door.route_params(local_date(case.facts.setl_time))
    return door.route_of((await session.execute(select(*columns), params)).one(), case.med_type)


async def settle(session: AsyncSession, case: Case) -> str:
    """Record a settlement as the settlement service does; returns its clr_way."""
    paid_by = await route(session, case)
    await session.execute(insert(door.CASE_ENTRIES), door.case_entries(case.facts, paid_by))
    await session.flush()
    return paid_by.clr_way
