"""Provider page: its funding ledger, and its fund share month by month against the year-end
rule's bands (docs/domain.md's global budget: surplus below the budget B, overspend shared between B
and B × corridor, unpaid beyond)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate

from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import ledger as funding
from claims.funding.budgets import budget_view
from claims.funding.schemas import BudgetOut, ProviderLedgerOut
from console.charts import Band, Series
from console.pages.calendar import today
from engine.auth import Principal
from engine.errors import NotFound


@dataclass(frozen=True, slots=True)
class ProviderPage:
    fixmedins_code: str
    year: int
    ledger: ProviderLedgerOut
    budget: BudgetOut | None
    months: list[str]
    series: list[Series]
    bands: list[Band]


def _chart(budget: BudgetOut, through: int) -> tuple[list[str], list[Series], list[Band]]:
    """Months 1 to ``through``, cumulative, with the straight-line budget as a third line."""
    by_month = {m.month: m for m in budget.months}
    numbers = range(1, through + 1)
    zero = Decimal("0.00")

    def cumulative(values: list[Decimal]) -> list[Decimal]:
        return list(accumulate(values))

    share = cumulative([by_month[m].fund_share if m in by_month else zero for m in numbers])
    prepaid = cumulative(
        [(by_month[m].prepaid or zero) if m in by_month else zero for m in numbers]
    )
    straight = [(budget.budget_amt * m / 12).quantize(Decimal("0.01")) for m in numbers]
    corridor = budget.budget_amt * budget.overspend_corridor_ratio
    bands = [
        Band(f"budget B {budget.budget_amt:,.2f}", budget.budget_amt),
        Band(f"B × {budget.overspend_corridor_ratio:.2f}: {corridor:,.2f}", corridor),
    ]
    series = [
        Series("fund share paid (A), cumulative", share),
        Series("prepaid to the provider, cumulative", prepaid),
        Series("straight-line budget, B × month ÷ 12", straight),
    ]
    return [f"{budget.year}-{m:02d}" for m in numbers], series, bands


async def provider_page(
    session: AsyncSession, principal: Principal, fixmedins_code: str
) -> ProviderPage:
    on = today()
    year = on.year
    ledger = await funding.provider_ledger(session, principal, fixmedins_code, year)
    try:
        budget: BudgetOut | None = await budget_view(session, principal, fixmedins_code, year)
    except NotFound:
        budget = None
    labels, series, bands = _chart(budget, on.month) if budget else ([], [], [])
    return ProviderPage(fixmedins_code, year, ledger, budget, labels, series, bands)
