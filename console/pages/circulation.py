"""Prescription circulation: uploaded → reviewed → routed or presented → dispensed, with the
expired and revoked, by pharmacy and by day."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from engine.clock import local_date
from prescriptions import circulation as rx


@dataclass(frozen=True, slots=True)
class Circulation:
    funnel: list[tuple[str, int]]
    ended: list[tuple[str, int]]
    pharmacies: list[tuple[str, int, int]]
    days: list[tuple[date, int, int]]


#: Statuses a prescription reaches only after a pharmacy could see it.
_REACHED_PHARMACY = frozenset({"circulating", "dispensed"})


async def circulation(session: AsyncSession, admdvs: str) -> Circulation:
    region = await rx.region_circulation(session, admdvs)
    facts, routed, dispensed = region.prescriptions, region.routed, region.dispensed
    status = Counter(f.status for f in facts)
    by_pharmacy = Counter(code for code, _ in dispensed)
    uploaded_on = Counter(local_date(f.prsc_time) for f in facts)
    dispensed_on = Counter(local_date(when) for _, when in dispensed)
    return Circulation(
        funnel=[
            ("uploaded", len(facts)),
            ("reviewed (approved or rejected)", sum(f.reviewed for f in facts)),
            (
                "routed or presented to a pharmacy",
                sum(f.status in _REACHED_PHARMACY or f.dispensed for f in facts),
            ),
            ("dispensed at least once", sum(f.dispensed for f in facts)),
        ],
        ended=[
            ("expired", status["expired"]),
            ("revoked by the doctor", status["revoked"]),
            ("voided", status["voided"]),
            ("still waiting for review", status["pending_review"]),
        ],
        pharmacies=[
            (code, routed.get(code, 0), by_pharmacy[code])
            for code in sorted(set(routed) | set(by_pharmacy))
        ],
        days=[
            (day, uploaded_on[day], dispensed_on[day])
            for day in sorted(set(uploaded_on) | set(dispensed_on))
        ],
    )
