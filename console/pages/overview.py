"""Region overview: each provider's budget burn against the calendar, and settlements per day."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import ledger
from claims.funding.schemas import RegionSummaryOut
from claims.settlement.service import settle, visits
from console.pages.calendar import today, year_elapsed
from engine.auth import Principal
from engine.clock import CST, local_date

#: Settlements per day are shown for this many days up to today.
DAYS_SHOWN = 31
PAGE = 500


@dataclass(frozen=True, slots=True)
class Overview:
    admdvs: str
    as_of: date
    target: Decimal
    summary: RegionSummaryOut
    per_day: list[tuple[date, int]]
    refusals: list[tuple[str, int]]


async def settlements_per_day(
    session: AsyncSession, principal: Principal, first: date, last: date
) -> list[tuple[date, int]]:
    """Settled (not revoked) settlements of the caller's region by local day."""
    begin = datetime.combine(first, time(), CST)
    end = datetime.combine(last + timedelta(days=1), time(), CST)
    counts: Counter[date] = Counter()
    cursor: str | None = None
    while True:
        page = await settle.visible_settlements(
            session,
            principal,
            fixmedins_code=None,
            status="settled",
            begin=begin,
            end=end,
            cursor=cursor,
            limit=PAGE,
        )
        counts.update(local_date(item.setl_time) for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [(day, counts[day]) for day in days]


async def overview(session: AsyncSession, principal: Principal, admdvs: str) -> Overview:
    on = today()
    first = on - timedelta(days=DAYS_SHOWN - 1)
    return Overview(
        admdvs=admdvs,
        as_of=on,
        target=year_elapsed(on),
        summary=await ledger.region_summary(session, principal, admdvs, on.year),
        per_day=await settlements_per_day(session, principal, first, on),
        refusals=await visits.refusals_by_reason(
            session, admdvs, datetime.combine(first, time(), CST)
        ),
    )
