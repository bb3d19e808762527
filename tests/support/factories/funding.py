"""Typed factories for the funding tests (global budgets, DIP, bundles).

Settlements are recorded through the hooks settlement calls (``claims.funding``) with hand-made
:class:`SettlementFacts`, so each test controls exactly which fund share lands in which month.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import ledger
from claims.funding.budgets import local_date
from claims.funding.models import FundingCaseEntry
from claims.funding.repository import RouteLookup, route_lookup_columns, route_params
from claims.settlement.models import Person
from engine.auth import Organisation, Role
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


def facts(
    fixmedins_code: str,
    when: datetime,
    hifp_pay: str,
    *,
    psn_no: str | None = None,
    med_type: str = "11",
    dise_codg: str | None = "I10.x00",
    admdvs: str = REGION,
) -> ledger.SettlementFacts:
    return ledger.SettlementFacts(
        setl_id="S" + uuid.uuid4().hex[:20].upper(),
        fixmedins_code=fixmedins_code,
        admdvs=admdvs,
        psn_no=psn_no or "P" + uuid.uuid4().hex[:16].upper(),
        insutype="390",
        med_type=med_type,
        setl_time=when,
        fund_pay_sumamt=cny(hifp_pay),
        hifp_pay=cny(hifp_pay),
        dise_codg=dise_codg,
    )


async def route(session: AsyncSession, facts: ledger.SettlementFacts) -> ledger.Route:
    """The settlement's funding route, its lookups read as the settle path's claim read reads
    them (``claims.budget_repository.route_lookup_columns``)."""
    columns = route_lookup_columns(
        bindparam("psn_no", facts.psn_no),
        bindparam("admdvs", facts.admdvs),
        bindparam("icd_code", facts.dise_codg),
    )
    params = route_params(local_date(facts.setl_time))
    lookup = RouteLookup.of((await session.execute(select(*columns), params)).one())
    return ledger.route_of(lookup, facts.med_type)


async def settle(session: AsyncSession, settlement: ledger.SettlementFacts) -> str:
    """Record a settlement as the settlement service does; returns its clr_way."""
    paid_by = await route(session, settlement)
    session.add_all(FundingCaseEntry(**v) for v in ledger.case_entries(settlement, paid_by))
    await session.flush()
    return paid_by.clr_way
