"""The date the console reports on, in China's time: the funding year runs on local dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from engine.clock import local_date
from engine.db import utcnow


def today() -> date:
    return local_date(utcnow())


def year_elapsed(on: date) -> Decimal:
    """The straight-line share of a year's budget due by the end of ``on`` (day n of N)."""
    days = (date(on.year + 1, 1, 1) - date(on.year, 1, 1)).days
    elapsed = (on - date(on.year, 1, 1)).days + 1
    return (Decimal(elapsed) / Decimal(days)).quantize(Decimal("0.0001"))
