"""Funding's door: all that the other domains may ask of funding (docs/architecture.md).

Settlement asks it once per settlement, inside the settlement's own statements:

* :func:`route_lookup_columns`, bound by :func:`route_params` — the route lookups the claim read
  carries, so that a settle reads its funding route with its claim (the SQL is funding's
  repository's);
* :func:`route_of` (pure, from those lookups) — the ``clr_way``: ``04`` when the person is signed
  to a bundle of the region that day (care at the holder or elsewhere), else ``05`` when it is a
  DIP case (the region has a points table that year covering the med_type and the diagnosis maps
  to a group), else ``01``;
* :func:`case_entries` (given that route) — the append-only case entries, as rows of
  :data:`CASE_ENTRIES` that the settlement's one write statement appends: the holder's bundle is
  charged for a member's care; a DIP case earns its group's points; and the basic pooled fund's
  share (``hifp_pay``) counts against the treating provider's global budget whenever that provider
  is paid for the care item by item (``01``, and a bundle member's care elsewhere, which is paid
  to that provider and deducted from the holder's bundle);
* :func:`record_revocation` — one exact negated entry per entry of the settlement, dated when the
  revocation happened.

No hook updates a shared row, so settlements of one provider never queue on each other here
(the hot path takes no lock but the person's).

Clearing asks it how a settlement's pooled-fund share was paid (:func:`hifp_route`, read from the
case entries) and what a month's global budget prepaid (:func:`budget_month`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import budgets
from claims.funding import repository as repo
from claims.funding.budgets import BudgetTerms, Part, twelfth
from claims.funding.models import FundingCaseEntry
from claims.funding.repository import (
    RouteLookup,
    hifp_route,
    route_lookup_columns,
    route_params,
)
from engine.auth import Principal
from engine.clock import local_date
from engine.db import table_of
from engine.money import ZERO, Money, cny, to_fen

__all__ = [
    "CASE_ENTRIES",
    "BudgetMonth",
    "Route",
    "RouteLookup",
    "SettlementFacts",
    "budget_month",
    "case_entries",
    "hifp_route",
    "record_revocation",
    "route_lookup_columns",
    "route_of",
    "route_params",
]

FEE_FOR_ITEM, PER_CAPITA, POINTS = "01", "04", "05"

#: The table :func:`case_entries` rows go to, appended by the settlement's write statement.
CASE_ENTRIES: Table = table_of(FundingCaseEntry)


@dataclass(frozen=True, slots=True)
class SettlementFacts:
    """What the funding rules need to know about a settlement."""

    setl_id: str
    fixmedins_code: str
    admdvs: str
    setl_time: datetime
    hifp_pay: Money


@dataclass(frozen=True, slots=True)
class Route:
    """How a settlement is paid: its ``clr_way`` and the bundle holder or DIP group behind it.
    Worked out once per settlement and handed back to :func:`case_entries`."""

    clr_way: str
    bundle_holder: str | None = None
    dip_points: Decimal | None = None
    dise_grp_code: str | None = None


def route_of(lookup: RouteLookup, med_type: str) -> Route:
    """``clr_way`` of a settlement from a row carrying its :func:`route_lookup_columns`: 04 bundle
    member, 05 DIP case (the scheme covers the med_type and the diagnosis maps to a group), else
    01."""
    if lookup.bundle_holder is not None:
        return Route(PER_CAPITA, bundle_holder=lookup.bundle_holder)
    if lookup.dip_points is not None and med_type in (lookup.dip_med_types or ()):
        return Route(POINTS, dip_points=lookup.dip_points, dise_grp_code=lookup.dise_grp_code)
    return Route(FEE_FOR_ITEM)


def case_entries(facts: SettlementFacts, route: Route) -> list[dict[str, Any]]:
    """The settlement's case entries (module docstring) as rows of :data:`CASE_ENTRIES`, every
    column given, so the hot path can insert them in its one write statement."""
    on = local_date(facts.setl_time)
    common = {
        "setl_id": facts.setl_id,
        "treated_by": facts.fixmedins_code,
        "admdvs": facts.admdvs,
        "year": on.year,
        "month": on.month,
        "amount": to_fen(facts.hifp_pay),
        "occurred_at": facts.setl_time,
        "points": None,
        "dise_grp_code": None,
        "reverses_id": None,
    }
    entries = []
    if route.bundle_holder is not None:
        entries.append(common | {"kind": "bundle_care", "fixmedins_code": route.bundle_holder})
    if route.dip_points is not None:
        entries.append(
            common
            | {
                "kind": "dip_points",
                "fixmedins_code": facts.fixmedins_code,
                "points": route.dip_points,
                "dise_grp_code": route.dise_grp_code,
            }
        )
    elif route.bundle_holder != facts.fixmedins_code:
        entries.append(common | {"kind": "fund_share", "fixmedins_code": facts.fixmedins_code})
    return entries


async def record_revocation(session: AsyncSession, setl_id: str, when: datetime) -> None:
    """Reverse every case entry of the settlement exactly, in the period of ``when``: a month
    already prepaid is never rewritten, the revocation's own month absorbs it. Reversing twice
    adds nothing (each entry is reversed at most once, a unique key in the table)."""
    on = local_date(when)
    session.add_all(
        FundingCaseEntry(
            setl_id=entry.setl_id,
            kind=entry.kind,
            fixmedins_code=entry.fixmedins_code,
            treated_by=entry.treated_by,
            admdvs=entry.admdvs,
            year=on.year,
            month=on.month,
            amount=-entry.amount,
            points=None if entry.points is None else -entry.points,
            dise_grp_code=entry.dise_grp_code,
            occurred_at=when,
            reverses_id=entry.id,
        )
        for entry in await repo.unreversed_case_entries(session, setl_id)
    )
    await session.flush()


# --- what clearing asks ------------------------------------------------------------------------


#: A month (or clr_type) the budget prepaid nothing for: no fund share of that clr_type when the
#: month was prepaid, or a year cleared before the month was ever prepaid.
NOTHING_PREPAID = Part(ZERO, ZERO, ZERO, ZERO)


@dataclass(frozen=True, slots=True)
class BudgetMonth:
    """The global budget behind a clearing batch: its terms, and the month's prepayment as the
    funding ledger records it, for the whole month and for the batch's clr_type."""

    budget_amt: Money
    monthly_cap: Money
    withhold_ratio: Decimal
    month: Part
    part: Part


async def budget_month(
    session: AsyncSession,
    principal: Principal,
    fixmedins_code: str,
    year: int,
    month: int,
    clr_type: str,
) -> BudgetMonth | None:
    """The month as the institution's global budget prepaid it, prepaying it now if the month run
    has not (under the budget's row lock, the same step as the run); None without a budget for
    that year."""
    budget = await repo.budget(session, fixmedins_code, year, lock=True)
    if budget is None:
        return None
    prepayment = await budgets.month_prepayment(session, principal, budget, month)
    whole = part = NOTHING_PREPAID
    if prepayment is not None:
        whole = Part(
            cny(prepayment.basis["fund_share"]),
            cny(prepayment.gross),
            cny(prepayment.prepaid),
            cny(prepayment.withheld),
        )
        part = Part.of(prepayment.basis, clr_type) or NOTHING_PREPAID
    terms = BudgetTerms.of(budget)
    return BudgetMonth(
        budget_amt=terms.budget,
        monthly_cap=twelfth(terms.budget),
        withhold_ratio=budget.withhold_ratio,
        month=whole,
        part=part,
    )
