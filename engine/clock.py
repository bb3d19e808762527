"""The region's clock: China Standard Time, the calendar day and the calendar month.

Timestamps are stored in UTC; every period of the domain (a visit's accumulator year, a budget
month, a reconciliation period, a clearing month ``setlym``, the day a prescription was issued) is
a calendar period in China Standard Time.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

#: China Standard Time: no daylight saving since 1991, so a fixed offset is exact.
CST = timezone(timedelta(hours=8), name="CST")


def local_date(when: datetime) -> date:
    """The calendar day in China Standard Time of an aware timestamp."""
    return when.astimezone(CST).date()


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """The month as [its first instant, the first instant of the next month) in China Standard
    Time; ``begin.date()`` is its first day and ``end.date()`` the first day after it."""
    begin = datetime(year, month, 1, tzinfo=CST)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=CST)
    return begin, end
