"""Property: the budget ledger's entries sum to exactly what the fund paid the provider.

For random budget terms, settlements and revocations over a year, any subset of months run and
any quality score: after each monthly run the ledger sums to what was paid plus what is withheld,
and after the year-end clearing to what was paid, which equals entitlement − forfeited withholding
computed here independently from docs/domain.md section 7 (plain Decimal arithmetic, half-up).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import door, ledger
from claims.funding.budgets import create_budget
from claims.funding.models import FundingLedgerEntry
from claims.funding.schemas import BudgetIn, QualityScoreIn
from engine.auth import Principal, Role
from engine.money import cny
from tests.support.factories.funding import REGION, budget_body, facts, provider, settle

YEAR = 2025
ADMIN = Principal(uuid.uuid4(), "test", Role.admin, None, None, on_server=True)
FEN = Decimal("0.01")


def _half_up(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def _ratio(high: int = 10_000) -> st.SearchStrategy[Decimal]:
    return st.integers(0, high).map(lambda n: Decimal(n) / 10_000)


@dataclass(frozen=True)
class Case:
    budget: Decimal
    withhold: Decimal
    retention: Decimal
    retention_cap: Decimal
    overspend_share: Decimal
    corridor: Decimal
    zero: Decimal
    full: Decimal
    quality: Decimal
    # (month settled, hifp_pay, month revoked or None)
    settlements: list[tuple[int, Decimal, int | None]]
    months_run: list[int]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    zero = Decimal(draw(st.integers(0, 80)))
    settlements = []
    for month, fen in draw(
        st.lists(st.tuples(st.integers(1, 12), st.integers(0, 30_000_000)), max_size=14)
    ):
        revoked = draw(st.none() | st.integers(month, 12))
        settlements.append((month, Decimal(fen) / 100, revoked))
    return Case(
        budget=Decimal(draw(st.integers(0, 2_000_000_000))) / 100,
        withhold=draw(_ratio(2_000)),
        retention=draw(_ratio()),
        retention_cap=draw(_ratio(2_000)),
        overspend_share=draw(_ratio()),
        corridor=1 + draw(_ratio(5_000)),
        zero=zero,
        full=zero + Decimal(draw(st.integers(1, int(100 - zero)))),
        quality=Decimal(draw(st.integers(0, 10_000))) / 100,
        settlements=settlements,
        months_run=sorted(draw(st.sets(st.integers(1, 12)))),
    )


def _expected_paid(case: Case) -> Decimal:
    """Entitlement − forfeited withholding, straight from docs/domain.md section 7."""
    share = dict.fromkeys(range(1, 13), Decimal(0))
    for month, amount, revoked in case.settlements:
        share[month] += amount
        if revoked is not None:
            share[revoked] -= amount
    cap = _half_up(case.budget / 12)
    withheld = Decimal(0)
    for month in case.months_run:
        gross = max(Decimal(0), min(share[month], cap))
        withheld += gross - _half_up(gross * (1 - case.withhold))
    a, b = sum(share.values()), case.budget
    if a <= b:
        entitlement = a + min(_half_up((b - a) * case.retention), _half_up(b * case.retention_cap))
    else:
        top = _half_up(b * case.corridor)
        entitlement = b + _half_up((min(a, top) - b) * case.overspend_share)
    if case.quality >= case.full:
        released = withheld
    elif case.quality < case.zero:
        released = Decimal(0)
    else:
        released = _half_up(withheld * (case.quality - case.zero) / (case.full - case.zero))
    return entitlement - (withheld - released)


async def _ledger_sum(session: AsyncSession, code: str) -> Decimal:
    total = await session.scalar(
        select(func.coalesce(func.sum(FundingLedgerEntry.amount), 0)).where(
            FundingLedgerEntry.fixmedins_code == code
        )
    )
    return Decimal(int(total or 0)) / 100


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
async def test_ledger_entries_sum_to_the_amounts_paid_out(
    session: AsyncSession, case: Case
) -> None:
    savepoint = await session.begin_nested()
    try:
        code = await provider(session)
        body = budget_body(
            code,
            YEAR,
            str(case.budget),
            withhold_ratio=str(case.withhold),
            surplus_retention_ratio=str(case.retention),
            surplus_retention_cap_ratio=str(case.retention_cap),
            overspend_share_ratio=str(case.overspend_share),
            overspend_corridor_ratio=str(case.corridor),
            quality_zero_score=str(case.zero),
            quality_full_score=str(case.full),
        )
        await create_budget(session, ADMIN, BudgetIn.model_validate(body))
        for month, amount, revoked in case.settlements:
            settlement = facts(code, datetime(YEAR, month, 12, tzinfo=UTC), str(amount))
            await settle(session, settlement)
            if revoked is not None:
                await door.record_revocation(
                    session, settlement.setl_id, datetime(YEAR, revoked, 20, tzinfo=UTC)
                )

        paid = withheld = Decimal(0)
        for month in case.months_run:
            run = await ledger.run_month(session, ADMIN, REGION, YEAR, month)
            [prepayment] = run.prepayments
            assert prepayment.prepaid + prepayment.withheld == prepayment.gross
            paid += prepayment.prepaid
            withheld += prepayment.withheld
            assert await _ledger_sum(session, code) == paid + withheld

        scores = [QualityScoreIn(fixmedins_code=code, quality_score=case.quality)]
        [clearing] = (await ledger.clear_year(session, ADMIN, REGION, YEAR, scores)).clearings
        paid += clearing.final_clearing
        assert clearing.paid_out == paid
        assert await _ledger_sum(session, code) == paid == _expected_paid(case)
        assert clearing.released + clearing.forfeited == clearing.withheld == withheld
        assert cny(clearing.final_clearing) == (
            cny(clearing.entitlement) - cny(clearing.forfeited) - cny(clearing.prepaid)
        )
    finally:
        await savepoint.rollback()
