"""The console's own reads, where no domain service answers the question: visits the insurance
refused to cover, which reconciliation runs a region has (each is then read through the
reconciliation service), and how the region's prescriptions have moved through circulation.
Every query is bounded to one pooling region."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.clearing.models import ReconRun
from claims.settlement.models import Visit
from prescriptions.models import Dispense, Prescription, PrescriptionAccess


async def refusals_by_reason(
    session: AsyncSession, admdvs: str, since: datetime
) -> list[tuple[str, int]]:
    """Visits registered since ``since`` that the insurance does not cover, by refusal code,
    most frequent first."""
    rows = await session.execute(
        select(Visit.refusal_code, func.count())
        .where(Visit.admdvs == admdvs, Visit.begntime >= since, Visit.refusal_code.is_not(None))
        .group_by(Visit.refusal_code)
        .order_by(func.count().desc(), Visit.refusal_code)
    )
    return [(str(code), int(count)) for code, count in rows]


async def recent_recon_runs(session: AsyncSession, admdvs: str, limit: int) -> Sequence[uuid.UUID]:
    """The region's latest detail reconciliations, newest first."""
    return (
        await session.scalars(
            select(ReconRun.id)
            .where(ReconRun.admdvs == admdvs)
            .order_by(ReconRun.created_at.desc())
            .limit(limit)
        )
    ).all()


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
