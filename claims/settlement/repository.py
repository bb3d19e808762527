"""Every query of the claims domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import (
    AssistancePolicyRow,
    BasicPolicyRow,
    BenefitAccumulator,
    CriticalIllnessPolicyRow,
    CrossRegionFiling,
    CrossRegionPolicyRow,
    FeeLine,
    Person,
    PersonYearAccumulator,
    PolicyVersion,
    Settlement,
    Visit,
)
from engine.db import insert_or_ignore

PolicyRow = BasicPolicyRow | CriticalIllnessPolicyRow | AssistancePolicyRow | CrossRegionPolicyRow


async def policy_token(session: AsyncSession, admdvs: str) -> str | None:
    """The region's policy version token: changes on every load, so caches key on it."""
    return await session.scalar(select(PolicyVersion.token).where(PolicyVersion.admdvs == admdvs))


async def bump_policy_token(session: AsyncSession, admdvs: str) -> None:
    row = await session.get(PolicyVersion, admdvs, with_for_update=True)
    if row is None:
        session.add(PolicyVersion(admdvs=admdvs, token=uuid.uuid4().hex))
    else:
        row.token = uuid.uuid4().hex
    await session.flush()


async def region_policies(
    session: AsyncSession, admdvs: str
) -> tuple[
    Sequence[BasicPolicyRow],
    Sequence[CriticalIllnessPolicyRow],
    Sequence[AssistancePolicyRow],
    Sequence[CrossRegionPolicyRow],
]:
    """Every policy version of a region (a few dozen rows), newest first."""

    async def rows(model: type[PolicyRow]) -> Sequence[Any]:
        query = select(model).where(model.admdvs == admdvs).order_by(model.valid_from.desc())
        return (await session.scalars(query)).all()

    return (
        await rows(BasicPolicyRow),
        await rows(CriticalIllnessPolicyRow),
        await rows(AssistancePolicyRow),
        await rows(CrossRegionPolicyRow),
    )


async def person(session: AsyncSession, psn_no: str, *, lock: bool = False) -> Person | None:
    query = select(Person).where(Person.psn_no == psn_no)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=lock))).first()


async def person_by_cert_hash(session: AsyncSession, certno_hash: str) -> Person | None:
    return (await session.scalars(select(Person).where(Person.certno_hash == certno_hash))).first()


async def benefit_accumulator(
    session: AsyncSession, psn_no: str, year: int, category: str
) -> BenefitAccumulator:
    """The row, created at zero on first use (the caller holds the person lock)."""
    await insert_or_ignore(
        session,
        BenefitAccumulator,
        {
            "psn_no": psn_no,
            "year": year,
            "category": category,
            "deductible_used": 0,
            "hifp_paid": 0,
        },
    )
    return await session.get_one(
        BenefitAccumulator, (psn_no, year, category), populate_existing=True
    )


async def person_year_accumulator(
    session: AsyncSession, psn_no: str, year: int
) -> PersonYearAccumulator:
    await insert_or_ignore(
        session,
        PersonYearAccumulator,
        {
            "psn_no": psn_no,
            "year": year,
            "inscp_psn_cum": 0,
            "critical_paid": 0,
            "assistance_paid": 0,
        },
    )
    return await session.get_one(PersonYearAccumulator, (psn_no, year), populate_existing=True)


async def year_accumulators(
    session: AsyncSession, psn_no: str, year: int
) -> tuple[dict[str, BenefitAccumulator], PersonYearAccumulator | None]:
    """A person's accumulators of a year as they stand, by category, and the year's row; read
    only (a category without a row has nothing counted yet)."""
    categories = (
        await session.scalars(
            select(BenefitAccumulator).where(
                BenefitAccumulator.psn_no == psn_no, BenefitAccumulator.year == year
            )
        )
    ).all()
    year_row = await session.get(PersonYearAccumulator, (psn_no, year))
    return {row.category: row for row in categories}, year_row


@dataclass(frozen=True, slots=True)
class AccumulatorValues:
    """A person's accumulators for one year and benefit category, in fen (0 for a row not created
    yet: the first settlement of the year creates it)."""

    deductible_used: int = 0
    hifp_paid: int = 0
    inscp_psn_cum: int = 0
    critical_paid: int = 0
    assistance_paid: int = 0


async def subtract_from_accumulators(
    session: AsyncSession, psn_no: str, year: int, category: str, delta: AccumulatorValues
) -> None:
    """Take a revoked settlement's delta back off both rows (they exist: the settlement created
    them). A plain UPDATE, because an upsert would propose a row of negative amounts, which the
    CHECK constraints rightly refuse."""
    await session.execute(
        update(BenefitAccumulator)
        .where(
            BenefitAccumulator.psn_no == psn_no,
            BenefitAccumulator.year == year,
            BenefitAccumulator.category == category,
        )
        .values(
            deductible_used=BenefitAccumulator.deductible_used - delta.deductible_used,
            hifp_paid=BenefitAccumulator.hifp_paid - delta.hifp_paid,
        )
    )
    await session.execute(
        update(PersonYearAccumulator)
        .where(PersonYearAccumulator.psn_no == psn_no, PersonYearAccumulator.year == year)
        .values(
            inscp_psn_cum=PersonYearAccumulator.inscp_psn_cum - delta.inscp_psn_cum,
            critical_paid=PersonYearAccumulator.critical_paid - delta.critical_paid,
            assistance_paid=PersonYearAccumulator.assistance_paid - delta.assistance_paid,
        )
    )


async def visit(session: AsyncSession, mdtrt_id: str, *, lock: bool = False) -> Visit | None:
    """The visit; ``lock`` takes its row lock, which serialises the writes to one visit."""
    return await session.get(Visit, mdtrt_id, with_for_update=lock or None)


async def visit_by_number(
    session: AsyncSession, fixmedins_code: str, ipt_otp_no: str | None
) -> Visit | None:
    """The institution's visit registered under its own number ``ipt_otp_no``."""
    if ipt_otp_no is None:
        return None
    return (
        await session.execute(
            select(Visit).where(
                Visit.fixmedins_code == fixmedins_code, Visit.ipt_otp_no == ipt_otp_no
            )
        )
    ).scalar_one_or_none()


async def has_prior_diagnosis(
    session: AsyncSession,
    psn_no: str,
    category: str,
    since: datetime,
    before: datetime,
) -> bool:
    """Whether an in-person (biz_type_code 01) visit diagnosed the same ICD-10 category."""
    rows = await session.scalars(
        select(Visit.diseinfo).where(
            Visit.psn_no == psn_no,
            Visit.biz_type_code == "01",
            Visit.begntime >= since,
            Visit.begntime < before,
        )
    )
    return any(str(d.get("diag_code", ""))[:3] == category for diseinfo in rows for d in diseinfo)


async def fee_lines(session: AsyncSession, mdtrt_id: str) -> Sequence[FeeLine]:
    return (
        await session.scalars(
            select(FeeLine).where(FeeLine.mdtrt_id == mdtrt_id).order_by(FeeLine.id)
        )
    ).all()


async def live_settlement(session: AsyncSession, mdtrt_id: str) -> Settlement | None:
    return (
        await session.scalars(
            select(Settlement).where(
                Settlement.mdtrt_id == mdtrt_id, Settlement.status == "settled"
            )
        )
    ).first()


async def settlement(session: AsyncSession, setl_id: str) -> Settlement | None:
    return await session.get(Settlement, setl_id, populate_existing=True)


async def settlements_page(
    session: AsyncSession,
    *,
    admdvs: str | None,
    fixmedins_code: str | None,
    status: str | None,
    begin: datetime,
    end: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[Settlement]:
    """Keyset pagination on (setl_time, setl_id): stable under concurrent inserts. ``admdvs``
    keeps the settlements made in the region or for its insured; None for ``admdvs``,
    ``fixmedins_code`` or ``status`` does not filter on it."""
    query = select(Settlement).where(Settlement.setl_time >= begin, Settlement.setl_time < end)
    if admdvs is not None:
        query = query.where(or_(Settlement.admdvs == admdvs, Settlement.insuplc_admdvs == admdvs))
    if fixmedins_code is not None:
        query = query.where(Settlement.fixmedins_code == fixmedins_code)
    if status is not None:
        query = query.where(Settlement.status == status)
    if after is not None:
        time, setl_id = after
        query = query.where(
            or_(
                Settlement.setl_time > time,
                (Settlement.setl_time == time) & (Settlement.setl_id > setl_id),
            )
        )
    query = query.order_by(Settlement.setl_time, Settlement.setl_id).limit(limit)
    return (await session.scalars(query)).all()


async def has_settlement_in_year(session: AsyncSession, psn_no: str, year: int) -> bool:
    found = await session.scalar(
        select(Settlement.setl_id)
        .where(Settlement.psn_no == psn_no, Settlement.year == year)
        .limit(1)
    )
    return found is not None


# --- cancellation (2202, 2205) --------------------------------------------------------------------


async def has_settlement(session: AsyncSession, mdtrt_id: str) -> bool:
    """Whether the visit was ever settled (a revoked settlement counts: it stays on record)."""
    found = await session.scalar(select(Settlement.setl_id).where(Settlement.mdtrt_id == mdtrt_id))
    return found is not None


async def refusals_by_reason(
    session: AsyncSession, admdvs: str, since: datetime
) -> list[tuple[str, int]]:
    """Visits of the region registered since ``since`` that the insurance does not cover, by
    refusal code, most frequent first."""
    rows = await session.execute(
        select(Visit.refusal_code, func.count())
        .where(Visit.admdvs == admdvs, Visit.begntime >= since, Visit.refusal_code.is_not(None))
        .group_by(Visit.refusal_code)
        .order_by(func.count().desc(), Visit.refusal_code)
    )
    return [(str(code), int(count)) for code, count in rows]


async def fee_line_batches(session: AsyncSession, mdtrt_id: str) -> set[str | None]:
    """The charge batches the visit's fee lines came in; None for lines uploaded without one."""
    return set(
        await session.scalars(
            select(FeeLine.chrg_bchno).where(FeeLine.mdtrt_id == mdtrt_id).distinct()
        )
    )


async def delete_fee_lines(
    session: AsyncSession,
    mdtrt_id: str,
    *,
    feedetl_sn: str | None = None,
    chrg_bchno: str | None = None,
) -> int:
    """Delete the visit's fee lines: line ``feedetl_sn``, the lines of batch ``chrg_bchno``, or
    all of them when neither is named; how many went."""
    statement = delete(FeeLine).where(FeeLine.mdtrt_id == mdtrt_id)
    if feedetl_sn is not None:
        statement = statement.where(FeeLine.feedetl_sn == feedetl_sn)
    if chrg_bchno is not None:
        statement = statement.where(FeeLine.chrg_bchno == chrg_bchno)
    return cast(CursorResult[Any], await session.execute(statement)).rowcount


async def delete_visit(session: AsyncSession, mdtrt_id: str) -> None:
    await session.execute(delete(Visit).where(Visit.mdtrt_id == mdtrt_id))


async def insured_in(session: AsyncSession, psn_nos: Sequence[str], admdvs: str) -> set[str]:
    """Which of ``psn_nos`` are people insured in pooling region ``admdvs``."""
    stmt = select(Person.psn_no).where(Person.psn_no.in_(psn_nos), Person.admdvs == admdvs)
    return set((await session.scalars(stmt)).all())


# --- cross-region filings -------------------------------------------------------------------------


async def filing(
    session: AsyncSession, trt_dcla_detl_sn: str, *, lock: bool = False
) -> CrossRegionFiling | None:
    query = select(CrossRegionFiling).where(CrossRegionFiling.trt_dcla_detl_sn == trt_dcla_detl_sn)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=lock))).first()


def _overlapping(begndate: date, enddate: date | None) -> list[object]:
    """Filings whose period shares a day with [begndate, enddate]."""
    conditions: list[object] = [
        or_(CrossRegionFiling.enddate.is_(None), CrossRegionFiling.enddate >= begndate)
    ]
    if enddate is not None:
        conditions.append(CrossRegionFiling.begndate <= enddate)
    return conditions


async def active_filings(
    session: AsyncSession,
    psn_no: str,
    mdtrtarea_admvs: str,
    begndate: date,
    enddate: date | None,
) -> Sequence[CrossRegionFiling]:
    """The person's live filings for the treatment region that share a day with the period."""
    query = select(CrossRegionFiling).where(
        CrossRegionFiling.psn_no == psn_no,
        CrossRegionFiling.mdtrtarea_admvs == mdtrtarea_admvs,
        CrossRegionFiling.status == "active",
        *_overlapping(begndate, enddate),  # type: ignore[arg-type]
    )
    return (await session.scalars(query.order_by(CrossRegionFiling.begndate))).all()


async def filings_page(
    session: AsyncSession,
    *,
    admdvs: str,
    psn_no: str | None,
    after: str | None,
    limit: int,
) -> Sequence[CrossRegionFiling]:
    """Filings that name ``admdvs`` as insured or treatment region, by serial number."""
    query = select(CrossRegionFiling).where(
        or_(
            CrossRegionFiling.insuplc_admdvs == admdvs,
            CrossRegionFiling.mdtrtarea_admvs == admdvs,
        )
    )
    if psn_no is not None:
        query = query.where(CrossRegionFiling.psn_no == psn_no)
    if after is not None:
        query = query.where(CrossRegionFiling.trt_dcla_detl_sn > after)
    query = query.order_by(CrossRegionFiling.trt_dcla_detl_sn).limit(limit)
    return (await session.scalars(query)).all()
