"""The frozen batch's figures (``claims.clearing.statement``), a pure function of summed lines and
the budget's prepayment of the month: every fund line adds up, and with a global budget the pooled
fund pays exactly the batch's part of the ledger's prepayment, whatever the batch froze.

And the split of a month's prepayment among clr_types (``claims.funding.budgets.apportion``): the
parts add up to the month to the fen, and one clr_type takes the whole month by the monthly rule."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from claims.clearing.batches import statement
from claims.clearing.models import FUNDS
from claims.clearing.repository import LineSums
from claims.funding.budgets import Part, QualityRule, apportion
from claims.funding.door import BudgetMonth
from engine.money import ZERO, cny, from_fen, to_fen

COLUMNS = ("medfee_sumamt", "fund_pay_sumamt", "psn_cash_pay", *FUNDS)
QUALITY = QualityRule(Decimal("0.05"), Decimal(90), Decimal(60))


def _sums(kind: str, route: str, count: int, hifp: int, **other: int) -> LineSums:
    sign = -1 if kind == "adjustment" else 1
    amounts = dict.fromkeys(COLUMNS, 0) | {"hifp_pay": hifp} | other
    return LineSums(kind, route, count, {k: sign * v for k, v in amounts.items()})


def _budget(part: Part, month: Part | None = None) -> BudgetMonth:
    return BudgetMonth(cny("1200.00"), cny("100.00"), Decimal("0.05"), month or part, part)


def _part(fund_share: str, gross: str) -> Part:
    prepaid, withheld = QUALITY.split(cny(gross))
    return Part(cny(fund_share), cny(gross), prepaid, withheld)


def test_worked_batch_with_every_route_and_the_budget() -> None:
    # Item by item 180.00 settled − 30.00 carried back = 150.00; bundle 20.00; DIP 7.00. The
    # ledger prepaid the month on a fund share of 160.00 (a settlement revoked since the run):
    # gross min(160.00, 100.00) = 100.00, 95.00 prepaid, 5.00 withheld.
    result = statement(
        [
            _sums("settlement", "item", 3, 18_000, maf_pay=1_000, acct_pay=500),
            _sums("adjustment", "item", 1, 3_000),
            _sums("settlement", "bundle", 1, 2_000),
            _sums("settlement", "points", 1, 700),
        ],
        _budget(_part("160.00", "100.00")),
    )
    pooled = result.funds[0]
    assert (pooled.claimed, pooled.adjustment) == (20_700, -3_000)
    assert (pooled.bundle_deduction, pooled.dip_deduction) == (2_000, 700)
    # 150.00 frozen − 100.00 gross = 50.00 deferred: 60.00 above the cap when the month ran,
    # less 10.00 revoked since.
    assert (pooled.budget_withheld, pooled.budget_deferred, pooled.payable) == (500, 5_000, 9_500)
    assert result.budget is not None
    assert {k: result.budget[k] for k in ("prepaid", "deferred_at_run", "since_run")} == {
        "prepaid": "95.00",
        "deferred_at_run": "60.00",
        "since_run": "-10.00",
    }
    maf = next(f for f in result.funds if f.fund == "maf_pay")
    assert maf.payable == 1_000
    assert result.totals["psntime"] == 5
    assert result.totals["adjustment_cnt"] == 1
    assert result.totals["payable_sumamt"] == 9_500 + 1_000 + 500


def test_a_month_prepaid_on_more_than_the_batch_froze_still_pays_the_prepayment() -> None:
    # The run prepaid 95.00 on 100.00; 60.00 of it was revoked before the approval.
    result = statement([_sums("settlement", "item", 1, 4_000)], _budget(_part("100.00", "100.00")))
    pooled = result.funds[0]
    assert (pooled.budget_deferred, pooled.payable) == (-6_000, 9_500)


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
parts = st.builds(
    lambda share, gross: Part(from_fen(share), from_fen(gross), *QUALITY.split(from_fen(gross))),
    st.integers(min_value=-(10**9), max_value=10**9),
    fen,
)


@given(st.lists(line_sums, max_size=6), st.none() | parts)
def test_fund_lines_add_up(sums: list[LineSums], part: Part | None) -> None:
    result = statement(sums, None if part is None else _budget(part))
    assert [f.fund for f in result.funds] == list(FUNDS)
    assert result.totals["payable_sumamt"] == sum(f.payable for f in result.funds)
    pooled = result.funds[0]
    share = sum(
        s.amounts["hifp_pay"] for s in sums if s.hifp_route == "item"
    )  # item by item, adjustments included
    for fund in result.funds[1:]:
        assert fund.payable == fund.claimed + fund.adjustment
    if part is None:
        assert pooled.payable == share
        assert (pooled.budget_withheld, pooled.budget_deferred) == (0, 0)
        assert result.budget is None
        return
    assert pooled.payable == to_fen(part.prepaid)
    assert pooled.budget_withheld == to_fen(part.withheld)
    assert pooled.budget_deferred == share - to_fen(part.gross)
    assert result.budget is not None
    assert cny(result.budget["deferred"]) == cny(result.budget["deferred_at_run"]) + cny(
        result.budget["since_run"]
    )


def test_one_clr_type_takes_the_whole_month() -> None:
    assert apportion(cny("100.00"), QUALITY, {"11": cny("150.00")}) == {
        "11": Part(cny("150.00"), cny("100.00"), cny("95.00"), cny("5.00"))
    }


def test_the_cap_is_shared_in_proportion_and_the_withholding_adds_up() -> None:
    # 0.03 over three equal shares: one fen each; the withholding of 0.03 (0.00) stays 0.00.
    thirds = apportion(
        cny("0.03"), QUALITY, {"11": cny("1.00"), "21": cny("1.00"), "41": cny("1.00")}
    )
    assert [p.gross for p in thirds.values()] == [cny("0.01")] * 3
    # 100.00 cap over 300.00 outpatient, 100.00 inpatient and a month of net pharmacy refunds.
    month = apportion(
        cny("100.00"), QUALITY, {"11": cny("300.00"), "21": cny("100.00"), "41": cny("-20.00")}
    )
    assert {t: (p.gross, p.prepaid, p.withheld) for t, p in month.items()} == {
        "11": (cny("75.00"), cny("71.25"), cny("3.75")),
        "21": (cny("25.00"), cny("23.75"), cny("1.25")),
        "41": (ZERO, ZERO, ZERO),
    }


@given(
    fen,
    st.integers(min_value=0, max_value=10_000).map(lambda n: Decimal(n) / 10_000),
    st.dictionaries(
        st.sampled_from(["11", "21", "41"]),
        st.integers(min_value=-(10**9), max_value=10**9),
        min_size=1,
    ),
)
def test_parts_add_up_to_the_month(gross_fen: int, ratio: Decimal, shares: dict[str, int]) -> None:
    rule = QualityRule(ratio, Decimal(90), Decimal(60))
    weights = {t: max(s, 0) for t, s in shares.items()}
    if not any(weights.values()):
        gross_fen = 0  # a month with no positive share prepays nothing (BudgetTerms.month_gross)
    gross = from_fen(gross_fen)
    result = apportion(gross, rule, {t: from_fen(s) for t, s in shares.items()})
    prepaid, withheld = rule.split(gross)
    assert sorted(result) == sorted(shares)
    assert sum((p.gross for p in result.values()), ZERO) == gross
    assert sum((p.prepaid for p in result.values()), ZERO) == prepaid
    assert sum((p.withheld for p in result.values()), ZERO) == withheld
    total = sum(weights.values())
    for t, p in result.items():
        assert p.fund_share == from_fen(shares[t])
        assert p.prepaid >= ZERO and p.withheld >= ZERO and p.prepaid + p.withheld == p.gross
        if total:  # in proportion, to within the fen of the largest remainder
            assert abs(to_fen(p.gross) * total - gross_fen * weights[t]) < total
