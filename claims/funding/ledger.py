"""The insurer's runs across the three payment methods, and its views of the funding ledger.

The monthly and year-end runs (:func:`run_month`, :func:`clear_year`) lock only the scheme rows
of the region they run. What a settlement records in the ledger is :mod:`claims.funding.door`'s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import bundles, dip
from claims.funding import repository as repo
from claims.funding.budgets import (
    add_balances,
    balance_of,
    burn_ratio,
    clear_budget,
    entry_out,
    prepay_budget_month,
    require_month_started,
    require_visible,
    require_year_over,
    sums_of,
    yuan,
)
from claims.funding.schemas import (
    ClearingOut,
    LedgerEntryOut,
    MonthRunOut,
    PrepaymentOut,
    ProviderLedgerOut,
    QualityScoreIn,
    RegionBudgetLine,
    RegionBundleLine,
    RegionDipLine,
    RegionSummaryOut,
    YearEndOut,
)
from engine.auth import Principal, find_organisation
from engine.clock import local_date
from engine.db import Database, unit_of_work, utcnow
from engine.errors import InvalidRequest, NotFound

# --- the insurer's runs --------------------------------------------------------------------------


#: One step of a month run: one budget, the region's DIP scheme, or one bundle, prepaid under that
#: scheme row's lock; it answers with what was paid, and pays nothing when run again.
MonthStep = Callable[[AsyncSession], Awaitable[list[PrepaymentOut]]]


async def month_steps(
    session: AsyncSession, principal: Principal, admdvs: str, year: int, month: int
) -> list[MonthStep]:
    """The steps of a region's month run, in lock order (budgets and bundles by institution
    code), so that concurrent runs queue on the same first row instead of deadlocking.

    Every step pays once by the ledger's unique key (scheme, provider, period, kind), so the
    steps may run in one transaction (:func:`run_month`) or each in its own
    (:func:`run_month_in_steps`), and a run cut short anywhere is finished by running it again.
    """
    principal.require_region(admdvs)
    require_month_started(year, month)

    async def budget(code: str, session: AsyncSession) -> list[PrepaymentOut]:
        row = await repo.budget(session, code, year, lock=True)
        return [] if row is None else [await prepay_budget_month(session, principal, row, month)]

    async def dip_providers(session: AsyncSession) -> list[PrepaymentOut]:
        scheme = await repo.dip_scheme(session, admdvs, year, lock=True)
        return [] if scheme is None else await dip.prepay_month(session, principal, scheme, month)

    async def bundle(code: str, session: AsyncSession) -> list[PrepaymentOut]:
        row = await repo.bundle(session, code, year, lock=True)
        return [] if row is None else [await bundles.prepay_month(session, principal, row, month)]

    steps: list[MonthStep] = [
        partial(budget, row.fixmedins_code)
        for row in await repo.budgets_in_region(session, admdvs, year)
    ]
    steps.append(dip_providers)
    steps += [
        partial(bundle, row.fixmedins_code)
        for row in await repo.bundles_in_region(session, admdvs, year)
    ]
    return steps


async def run_month(
    session: AsyncSession, principal: Principal, admdvs: str, year: int, month: int
) -> MonthRunOut:
    """Prepay a month for every budget, DIP provider and bundle of the region, in one
    transaction: once. A second or concurrent run waits on the scheme row locks, then finds the
    month's entries and answers with what was paid."""
    prepayments: list[PrepaymentOut] = []
    for step in await month_steps(session, principal, admdvs, year, month):
        prepayments += await step(session)
    return MonthRunOut(admdvs=admdvs, year=year, month=month, prepayments=prepayments)


async def run_month_in_steps(
    db: Database, principal: Principal, admdvs: str, year: int, month: int
) -> MonthRunOut:
    """:func:`run_month` with each step committed in a transaction of its own (the worker's way,
    docs/events.md "A run killed half-way"): a worker killed mid-run leaves whole steps paid and
    none half-paid, and the redelivered message pays only the steps still missing, so the month's
    totals come out exactly as one uninterrupted run's."""
    async with unit_of_work(db.sessionmaker) as session:
        steps = await month_steps(session, principal, admdvs, year, month)
    prepayments: list[PrepaymentOut] = []
    for step in steps:
        async with unit_of_work(db.sessionmaker) as session:
            prepayments += await step(session)
    return MonthRunOut(admdvs=admdvs, year=year, month=month, prepayments=prepayments)


async def due_months(session: AsyncSession) -> list[tuple[str, int, int]]:
    """(admdvs, year, month) of every ended month of this year and last year in every region with
    a scheme still open: what the periodic run sends. Runs already made answer without paying, so
    sending them all is how a missed tick catches up."""
    today = local_date(utcnow())
    due = []
    for year in (today.year - 1, today.year):
        last = 12 if year < today.year else today.month - 1
        for admdvs in await repo.regions_with_open_schemes(session, year):
            due += [(admdvs, year, month) for month in range(1, last + 1)]
    return due


def _scores(given: Sequence[QualityScoreIn], needed: set[str]) -> dict[str, Decimal]:
    scores: dict[str, Decimal] = {}
    for i, item in enumerate(given):
        if item.fixmedins_code in scores:
            raise InvalidRequest(
                f"{item.fixmedins_code} is scored twice", field=f"quality_scores.{i}"
            )
        if item.fixmedins_code not in needed:
            raise InvalidRequest(
                f"{item.fixmedins_code} has no budget, DIP points or bundle this year",
                code="no_funding_scheme",
                field=f"quality_scores.{i}",
            )
        scores[item.fixmedins_code] = item.quality_score
    missing = sorted(needed - set(scores))
    if missing:
        raise InvalidRequest(
            f"quality scores missing for {', '.join(missing)}",
            code="quality_score_missing",
            field="quality_scores",
        )
    return scores


async def clear_year(
    session: AsyncSession,
    principal: Principal,
    admdvs: str,
    year: int,
    quality_scores: Sequence[QualityScoreIn],
) -> YearEndOut:
    """Year-end clearing of every budget, the DIP scheme and every bundle of the region, with one
    quality score per provider. Running it again with the same scores answers with the stored
    clearing; different scores for a cleared provider are refused."""
    principal.require_region(admdvs)
    require_year_over(year)
    budgets = await repo.budgets_in_region(session, admdvs, year, lock=True)
    scheme = await repo.dip_scheme(session, admdvs, year, lock=True)
    held = await repo.bundles_in_region(session, admdvs, year, lock=True)
    dip_providers = await dip.providers(session, scheme) if scheme is not None else []
    providers = {b.fixmedins_code for b in budgets} | {b.fixmedins_code for b in held}
    providers |= set(dip_providers)
    scores = _scores(quality_scores, providers)
    clearings: list[ClearingOut] = [
        await clear_budget(session, principal, row, scores[row.fixmedins_code]) for row in budgets
    ]
    if scheme is not None and dip_providers:
        clearings += await dip.clear_year(session, principal, scheme, scores)
    clearings += [
        await bundles.clear_bundle(session, principal, row, scores[row.fixmedins_code])
        for row in held
    ]
    return YearEndOut(admdvs=admdvs, year=year, clearings=clearings)


# --- reads ---------------------------------------------------------------------------------------


async def region_summary(
    session: AsyncSession, principal: Principal, admdvs: str, year: int
) -> RegionSummaryOut:
    """Budget burn, DIP points and bundle balances of a region's year, with what was paid."""
    require_visible(principal, admdvs, NotFound("no such pooling region", code="not_found"))
    ledger = await repo.region_ledger_sums(session, admdvs, year)
    shares = await repo.case_totals_by_provider(session, "fund_share", admdvs, year)
    budget_lines = []
    for row in await repo.budgets_in_region(session, admdvs, year):
        share = shares.get(row.fixmedins_code, repo.CaseTotals()).amount
        budget_lines.append(
            RegionBudgetLine(
                fixmedins_code=row.fixmedins_code,
                budget_amt=yuan(row.budget_amt),
                fund_share=yuan(share),
                burn_ratio=burn_ratio(share, row.budget_amt),
                totals=balance_of(ledger.get(("global_budget", row.fixmedins_code), {})),
                cleared=row.cleared_at is not None,
            )
        )
    bundle_lines = []
    for held in await repo.bundles_in_region(session, admdvs, year):
        view = await bundles.bundle_view(session, principal, held.fixmedins_code, year)
        bundle_lines.append(
            RegionBundleLine(
                fixmedins_code=held.fixmedins_code,
                capitation=view.capitation,
                care=view.care_at_holder + view.care_elsewhere,
                bundle_balance=view.bundle_balance,
                totals=view.totals,
                cleared=held.cleared_at is not None,
            )
        )
    scheme = await repo.dip_scheme(session, admdvs, year)
    dip_line = None
    if scheme is not None:
        lines = await dip.provider_lines(session, scheme)
        dip_line = RegionDipLine(
            total_points=sum((line.points for line in lines), Decimal(0)),
            point_value=scheme.point_value,
            providers=lines,
        )
    return RegionSummaryOut(
        admdvs=admdvs,
        year=year,
        budgets=budget_lines,
        dip=dip_line,
        bundles=bundle_lines,
        totals=add_balances(*(balance_of(sums) for sums in ledger.values())),
    )


async def provider_ledger(
    session: AsyncSession, principal: Principal, fixmedins_code: str, year: int
) -> ProviderLedgerOut:
    """Every ledger entry of a provider's year under all its schemes, and their balance."""
    org = await find_organisation(session, fixmedins_code)
    missing = NotFound("no such provider", code="not_found")
    if org is None or org.institution_code != fixmedins_code:
        raise missing
    require_visible(principal, org.admdvs, missing)
    entries = list(await repo.provider_ledger(session, fixmedins_code, year))
    out: list[LedgerEntryOut] = [entry_out(e) for e in entries]
    return ProviderLedgerOut(
        fixmedins_code=fixmedins_code, year=year, entries=out, totals=balance_of(sums_of(entries))
    )
