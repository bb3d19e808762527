"""The console's own reads, where no domain service answers the question: how the region's
prescriptions have moved through circulation. Every query is bounded to one pooling region."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from prescriptions.models import Dispense, Prescription, PrescriptionAccess


@dataclass(frozen=True, slots=True)
class RxFacts:
    """One prescription's path, as the funnel counts it."""

    prsc_time: datetime
    status: str
    reviewed: bool
    dispensed: bool


async def prescription_facts(session: AsyncSession, admdvs: str) -> list[RxFacts]:
    rows = await session.execute(
        select(
            Prescription.prsc_time,
            Prescription.status,
            Prescription.reviewed_at.is_not(None),
            Prescription.dspe_cnt > 0,
        ).where(Prescription.admdvs == admdvs)
    )
    return [RxFacts(*row) for row in rows]


async def routed_by_pharmacy(session: AsyncSession, admdvs: str) -> dict[str, int]:
    """Prescriptions each pharmacy was given access to (routed or presented)."""
    rows = await session.execute(
        select(PrescriptionAccess.fixmedins_code, func.count())
        .join(Prescription, Prescription.hi_rxno == PrescriptionAccess.hi_rxno)
        .where(Prescription.admdvs == admdvs)
        .group_by(PrescriptionAccess.fixmedins_code)
    )
    return {code: int(count) for code, count in rows}


async def dispenses(session: AsyncSession, admdvs: str) -> list[tuple[str, datetime]]:
    """Every dispensed portion of the region's prescriptions: the pharmacy and when."""
    rows = await session.execute(
        select(Dispense.fixmedins_code, Dispense.dspe_time)
        .join(Prescription, Prescription.hi_rxno == Dispense.hi_rxno)
        .where(Prescription.admdvs == admdvs)
    )
    return [(code, when) for code, when in rows]
