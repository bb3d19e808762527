"""The frozen batch's figures (``claims.clearing.statement``), a pure function of summed lines:
every fund line adds up, and the pooled fund follows the global budget's monthly rule exactly."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from claims.budgets import BudgetTerms, QualityRule
from claims.clearing import BudgetRule, statement
from claims.recon_models import FUNDS
from claims.recon_repository import LineSums
from engine.money import cny, to_fen

COLUMNS = ("medfee_sumamt", "fund_pay_sumamt", "psn_cash_pay", *FUNDS)


def _sums(kind: str, route: str, count: int, hifp: int, **other: int) -> LineSums:
    sign = -1 if kind == "adjustment" else 1
    amounts = dict.fromkeys(COLUMNS, 0) | {"hifp_pay": hifp} | other
    return LineSums(kind, route, count, {k: sign * v for k, v in amounts.items()})


RULE = BudgetRule(
    BudgetTerms(cny("1200.00"), Decimal("0.5"), Decimal("0.05"), Decimal("0.5"), Decimal("1.1")),
    QualityRule(Decimal("0.05"), Decimal(90), Decimal(60)),
)


def test_worked_batch_with_every_route_and_the_budget() -> None:
    # Item by item 180.00 settled − 30.00 carried back = 150.00; bundle 20.00; DIP 7.00.
    result = statement(
        [
            _sums("settlement", "item", 3, 18_000, maf_pay=1_000, acct_pay=500),
            _sums("adjustment", "item", 1, 3_000),
            _sums("settlement", "bundle", 1, 2_000),
            _sums("settlement", "points", 1, 700),
        ],
        RULE,
    )
    pooled = result.funds[0]
    assert (pooled.claimed, pooled.adjustment) == (20_700, -3_000)
    assert (pooled.bundle_deduction, pooled.dip_deduction) == (2_000, 700)
    # min(150.00, 1200/12 = 100.00) = 100.00; 5% withheld; 50.00 deferred to year end.
    assert (pooled.budget_withheld, pooled.budget_deferred, pooled.payable) == (500, 5_000, 9_500)
    assert result.budget is not None and result.budget["prepaid"] == "95.00"
    maf = next(f for f in result.funds if f.fund == "maf_pay")
    assert maf.payable == 1_000
    assert result.totals["psntime"] == 5
    assert result.totals["adjustment_cnt"] == 1
    assert result.totals["payable_sumamt"] == 9_500 + 1_000 + 500


routes = st.sampled_from(["item", "bundle", "points"])
kinds = st.sampled_from(["settlement", "adjustment"])
fen = st.integers(min_value=0, max_value=10**9)
line_sums = st.builds(
    lambda kind, route, count, hifp, maf, acct: _sums(
        kind, route, count, hifp, maf_pay=maf, acct_pay=acct
    ),
    kinds,
    routes,
    st.integers(min_value=0, max_value=1000),
    fen,
    fen,
    fen,
)


@given(st.lists(line_sums, max_size=6), st.booleans())
def test_fund_lines_add_up(sums: list[LineSums], budgeted: bool) -> None:
    result = statement(sums, RULE if budgeted else None)
    assert [f.fund for f in result.funds] == list(FUNDS)
    assert result.totals["payable_sumamt"] == sum(f.payable for f in result.funds)
    pooled = result.funds[0]
    share = sum(
        s.amounts["hifp_pay"] for s in sums if s.hifp_route == "item"
    )  # item by item, adjustments included
    if not budgeted:
        assert pooled.payable == share
        assert (pooled.budget_withheld, pooled.budget_deferred) == (0, 0)
        return
    gross = min(max(share, 0), to_fen(cny("100.00")))
    assert pooled.budget_deferred == share - gross
    assert pooled.payable + pooled.budget_withheld == gross
    assert pooled.payable == to_fen(RULE.quality.split(cny(Decimal(gross) / 100))[0])
    for fund in result.funds[1:]:
        assert fund.payable == fund.claimed + fund.adjustment
