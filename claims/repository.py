"""Every query of the claims domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from claims.models import (
    AssistancePolicyRow,
    BasicPolicyRow,
    BenefitAccumulator,
    CriticalIllnessPolicyRow,
    FeeLine,
    Person,
    PersonYearAccumulator,
    PolicyVersion,
    Settlement,
    Visit,
)
from engine.db import insert_or_ignore

PolicyRow = BasicPolicyRow | CriticalIllnessPolicyRow | AssistancePolicyRow


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
    Sequence[BasicPolicyRow], Sequence[CriticalIllnessPolicyRow], Sequence[AssistancePolicyRow]
]:
    """Every policy version of a region (a few dozen rows), newest first."""

    async def rows(model: type[PolicyRow]) -> Sequence[Any]:
        query = select(model).where(model.admdvs == admdvs).order_by(model.valid_from.desc())
        return (await session.scalars(query)).all()

    return (
        await rows(BasicPolicyRow),
        await rows(CriticalIllnessPolicyRow),
        await rows(AssistancePolicyRow),
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


@dataclass(frozen=True, slots=True)
class AccumulatorValues:
    """A person's accumulators for one year and benefit category, in fen (0 for a row not created
    yet: the first settlement of the year creates it)."""

    deductible_used: int = 0
    hifp_paid: int = 0
    inscp_psn_cum: int = 0
    critical_paid: int = 0
    assistance_paid: int = 0


async def visit_and_person(
    session: AsyncSession, mdtrt_id: str, *, lock: bool
) -> tuple[Visit, Person] | None:
    """The visit and its person in one round trip; ``lock`` takes the person's row lock (FOR
    UPDATE OF person on PostgreSQL), the lock that guards every limit of a settlement."""
    query = select(Visit, Person).join(Person, Person.psn_no == Visit.psn_no)
    query = query.where(Visit.mdtrt_id == mdtrt_id)
    if lock:
        query = query.with_for_update(of=Person)
    row = (await session.execute(query.execution_options(populate_existing=lock))).first()
    return None if row is None else (row[0], row[1])


async def live_settlement_and_fee_lines(
    session: AsyncSession, mdtrt_id: str
) -> tuple[bool, Sequence[FeeLine]]:
    """Whether the visit has a live settlement, and its fee lines, in one round trip.

    Called after the person lock is taken, as its own statement: under READ COMMITTED a new
    statement sees what a settlement that held the lock before us committed, which a subquery of
    the locking statement itself would not.
    """
    live = exists().where(Settlement.mdtrt_id == Visit.mdtrt_id, Settlement.status == "settled")
    rows = (
        await session.execute(
            select(live.label("live"), FeeLine)
            .select_from(Visit)
            .outerjoin(FeeLine, FeeLine.mdtrt_id == Visit.mdtrt_id)
            .where(Visit.mdtrt_id == mdtrt_id)
            .order_by(FeeLine.id)
        )
    ).all()
    return bool(rows and rows[0][0]), [row[1] for row in rows if row[1] is not None]


async def accumulator_values(
    session: AsyncSession, psn_no: str, year: int, category: str
) -> AccumulatorValues:
    """Both accumulator rows of a claim in one round trip (outer joins from the person), without
    creating them: :func:`add_to_accumulators` creates and applies in one statement each."""
    benefit, per_year = BenefitAccumulator, PersonYearAccumulator
    row = (
        await session.execute(
            select(
                benefit.deductible_used,
                benefit.hifp_paid,
                per_year.inscp_psn_cum,
                per_year.critical_paid,
                per_year.assistance_paid,
            )
            .select_from(Person)
            .outerjoin(
                benefit,
                and_(
                    benefit.psn_no == Person.psn_no,
                    benefit.year == year,
                    benefit.category == category,
                ),
            )
            .outerjoin(per_year, and_(per_year.psn_no == Person.psn_no, per_year.year == year))
            .where(Person.psn_no == psn_no)
        )
    ).one()
    return AccumulatorValues(*(value or 0 for value in row))


async def add_to_accumulators(
    session: AsyncSession, psn_no: str, year: int, category: str, delta: AccumulatorValues
) -> None:
    """Add a settlement's delta to both accumulator rows, creating them at the delta on first use:
    ``INSERT ... ON CONFLICT DO UPDATE SET col = col + excluded.col``, one statement per row.

    The caller holds the person lock, so the values it adjudicated on are still the ones the
    delta is added to.
    """
    await _insert_or_add(
        session,
        BenefitAccumulator,
        {"psn_no": psn_no, "year": year, "category": category},
        {"deductible_used": delta.deductible_used, "hifp_paid": delta.hifp_paid},
    )
    await _insert_or_add(
        session,
        PersonYearAccumulator,
        {"psn_no": psn_no, "year": year},
        {
            "inscp_psn_cum": delta.inscp_psn_cum,
            "critical_paid": delta.critical_paid,
            "assistance_paid": delta.assistance_paid,
        },
    )


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


async def _insert_or_add(
    session: AsyncSession,
    model: type[BenefitAccumulator] | type[PersonYearAccumulator],
    key: dict[str, Any],
    amounts: dict[str, int],
) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt: Any = dialect.insert(model).values(**key, **amounts)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={name: getattr(model, name) + getattr(stmt.excluded, name) for name in amounts},
    )
    await session.execute(stmt)


async def visit(session: AsyncSession, mdtrt_id: str) -> Visit | None:
    return await session.get(Visit, mdtrt_id)


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
    fixmedins_code: str,
    begin: datetime,
    end: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[Settlement]:
    """Keyset pagination on (setl_time, setl_id): stable under concurrent inserts."""
    query = select(Settlement).where(
        Settlement.fixmedins_code == fixmedins_code,
        Settlement.setl_time >= begin,
        Settlement.setl_time < end,
    )
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
