"""How a settlement is funded, and the insurer's runs across the three payment methods.

Settlement (``claims.settlement``) uses the hooks in its own transaction:

* :func:`route_of` (pure, once per settlement, from the lookups read with the claim) — its
  ``clr_way``: ``04`` when the person is signed to a bundle of the region that day (care at the
  holder or elsewhere), else ``05`` when it is a DIP case (the region has a points table that year
  covering the med_type and the diagnosis maps to a group), else ``01``;
* :func:`case_entries` (given that route) — the append-only case entries: the holder's bundle
  is charged for a member's care; a DIP case earns its group's points; and the basic pooled fund's
  share (``hifp_pay``) counts against the treating provider's global budget whenever that provider
  is paid for the care item by item (``01``, and a bundle member's care elsewhere, which is paid to
  that provider and deducted from the holder's bundle);
* :func:`record_revocation` — one exact negated entry per entry of the settlement, dated when the
  revocation happened.

No hook updates a shared row, so settlements of one provider never queue on each other here
(STYLE.md, the hot path). The monthly and year-end runs (:func:`run_month`, :func:`clear_year`)
lock only the scheme rows of the region they run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import bundles, dip
from claims.funding import repository as repo
from claims.funding.budgets import (
    add_balances,
    balance_of,
    burn_ratio,
    clear_budget,
    entry_out,
    local_date,
    prepay_budget_month,
    require_month_started,
    require_visible,
    require_year_over,
    sums_of,
    yuan,
)
from claims.funding.models import FundingCaseEntry
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
from engine.db import Database, unit_of_work, utcnow
from engine.errors import InvalidRequest, NotFound
from engine.money import Money, to_fen

FEE_FOR_ITEM, PER_CAPITA, POINTS = "01", "04", "05"


@dataclass(frozen=True, slots=True)
class SettlementFacts:
    """What the funding rules need to know about a settlement (or a pre-settlement)."""

    setl_id: str
    fixmedins_code: str
    admdvs: str
    psn_no: str
    insutype: str
    med_type: str
    setl_time: datetime
    fund_pay_sumamt: Money
    hifp_pay: Money
    dise_codg: str | None


@dataclass(frozen=True, slots=True)
class Route:
    """How a settlement is paid: its ``clr_way`` and the bundle holder or DIP group behind it.
    Worked out once per settlement and handed back to :func:`case_entries`."""

    clr_way: str
    bundle_holder: str | None = None
    dip_points: Decimal | None = None
    dise_grp_code: str | None = None


def route_of(lookup: repo.RouteLookup, med_type: str) -> Route:
    """``clr_way`` of a settlement from its route lookups: 04 bundle member, 05 DIP case (the
    scheme covers the med_type and the diagnosis maps to a group), else 01."""
    if lookup.bundle_holder is not None:
        return Route(PER_CAPITA, bundle_holder=lookup.bundle_holder)
    if lookup.dip_points is not None and med_type in (lookup.dip_med_types or ()):
        return Route(POINTS, dip_points=lookup.dip_points, dise_grp_code=lookup.dise_grp_code)
    return Route(FEE_FOR_ITEM)


def case_entries(facts: SettlementFacts, route: Route) -> list[dict[str, Any]]:
    """The settlement's case entries (module docstring) as column values, every column given, so
    the hot path can insert them in its one write statement."""
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
