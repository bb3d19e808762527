"""Reading back what settlement wrote of a person."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.settlement.models import BenefitAccumulator, Person, PersonYearAccumulator, Settlement


async def ledger_state(session: AsyncSession, psn_no: str) -> tuple[Any, ...]:
    """What settlements change of a person: the account balance and every accumulator, read
    afresh; equal before and after means nothing moved."""
    session.expire_all()
    person = await session.get_one(Person, psn_no)
    benefit = (
        await session.scalars(select(BenefitAccumulator).where(BenefitAccumulator.psn_no == psn_no))
    ).all()
    year = (
        await session.scalars(
            select(PersonYearAccumulator).where(PersonYearAccumulator.psn_no == psn_no)
        )
    ).all()
    return (
        person.acct_balc,
        sorted((b.category, b.deductible_used, b.hifp_paid) for b in benefit),
        sorted((y.inscp_psn_cum, y.critical_paid, y.assistance_paid) for y in year),
    )


async def settlements_of(session: AsyncSession, mdtrt_id: str) -> int:
    """How many settlements the visit has (counted by visit: the database also holds other
    tests' committed worlds)."""
    query = select(func.count()).select_from(Settlement).where(Settlement.mdtrt_id == mdtrt_id)
    return int(await session.scalar(query) or 0)
