"""Property tests: the docs/domain.md section 5 identities hold to the fen for any lines, policy and
accumulator state, no amount is negative, no fund exceeds what its cap leaves, and a revoke (the
delta subtracted) restores the accumulators exactly."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from claims.settlement.service.adjudication import (
    AccountPolicy,
    Accumulators,
    Adjudication,
    AssistancePolicy,
    BasicPolicy,
    ClaimInput,
    CriticalIllnessPolicy,
    PoolBand,
    PricedLine,
    adjudicate,
)
from engine.money import ZERO, Money, from_fen, scale

SETTINGS = settings(max_examples=300, deadline=None)


# Strategies are built once at import: building them inside a draw makes hypothesis re-validate
# them on every example, which dominated the run time.


def fen(max_fen: int) -> st.SearchStrategy[Money]:
    return st.integers(min_value=0, max_value=max_fen).map(from_fen)


def four_decimals(max_units: int) -> st.SearchStrategy[Decimal]:
    """Unit prices with up to four decimals (docs/domain.md section 3)."""
    return st.integers(min_value=0, max_value=max_units).map(lambda n: Decimal(n).scaleb(-4))


RATIOS = st.one_of(
    st.sampled_from([Decimal("0"), Decimal("0.5"), Decimal("0.6"), Decimal("1")]),
    st.integers(min_value=0, max_value=10_000).map(lambda n: Decimal(n).scaleb(-4)),
)
COUNTS = st.one_of(
    st.integers(min_value=1, max_value=120).map(Decimal),
    st.integers(min_value=1, max_value=50_000).map(lambda n: Decimal(n).scaleb(-3)),
)
PRICES = four_decimals(5_000_000)
CAP_KINDS = st.sampled_from(["none", "equal", "any", "just_below"])
SMALL_OFFSETS = four_decimals(10_000)
CLASSES = st.sampled_from([1, 2, 3])
NON_MEDICAL = st.sampled_from([False, False, False, True])


@st.composite
def priced_lines(draw: st.DrawFn) -> PricedLine:
    """One line with a payment standard that is absent, equal to, above or (just) below the
    price; ``feedetl_sn`` is renumbered by ``LINE_TUPLES``."""
    pric = draw(PRICES)
    cnt = draw(COUNTS)
    kind = draw(CAP_KINDS)
    cap: Decimal | None = None
    if kind == "equal":
        cap = pric
    elif kind == "any":
        cap = draw(PRICES)
    elif kind == "just_below":
        cap = max(pric - draw(SMALL_OFFSETS), Decimal(0))
    return PricedLine(
        feedetl_sn="0",
        med_list_codg="M",
        chrgitm_lv=draw(CLASSES),
        non_medical=draw(NON_MEDICAL),
        pric=pric,
        cnt=cnt,
        det_item_fee_sumamt=scale(pric, cnt),
        pric_uplmt_amt=cap,
        selfpay_prop=draw(RATIOS),
    )


def _renumber(lines: list[PricedLine]) -> tuple[PricedLine, ...]:
    return tuple(
        dataclasses.replace(line, feedetl_sn=str(index), med_list_codg=f"M{index}")
        for index, line in enumerate(lines)
    )


LINE_TUPLES = st.lists(priced_lines(), max_size=8).map(_renumber)


@st.composite
def bands(draw: st.DrawFn) -> tuple[PoolBand, ...]:
    bounds = draw(BAND_BOUNDS)
    uptos: list[Money | None] = [from_fen(b) for b in sorted(bounds)]
    return tuple(PoolBand(upto=upto, ratio=draw(RATIOS)) for upto in [*uptos, None])


BAND_BOUNDS = st.lists(st.integers(min_value=1, max_value=2_000_000), max_size=3, unique=True)
BANDS = bands()
BASIC_POLICIES = st.builds(
    BasicPolicy,
    fund_pay_type=st.sampled_from(["310100", "390100"]),
    deductible=fen(100_000),
    pool_bands=BANDS,
    annual_cap=fen(2_000_000),
)
CRITICAL_POLICIES = st.none() | st.builds(
    CriticalIllnessPolicy,
    fund_pay_type=st.sampled_from(["390200", "330100"]),
    threshold=fen(3_000_000),
    bands=BANDS,
    annual_cap=fen(30_000_000),
)
ASSISTANCE_POLICIES = st.none() | st.builds(
    AssistancePolicy,
    fund_pay_type=st.just("610100"),
    category=st.sampled_from(["低保", "特困"]),
    ratio=RATIOS,
    annual_cap=fen(3_000_000),
)


def zero_or_fen(max_fen: int) -> st.SearchStrategy[Money]:
    """A fresh year (zero) half the time, so funds are not mostly exhausted already."""
    return st.just(ZERO) | fen(max_fen)


ACCUMULATORS = st.builds(
    Accumulators,
    deductible_used=zero_or_fen(100_000),
    hifp_paid=zero_or_fen(2_500_000),
    inscp_psn_cum=zero_or_fen(5_000_000),
    critical_paid=zero_or_fen(30_000_000),
    assistance_paid=zero_or_fen(3_000_000),
)

CLAIMS = st.builds(
    ClaimInput,
    lines=LINE_TUPLES,
    basic=BASIC_POLICIES,
    critical_illness=CRITICAL_POLICIES,
    assistance=ASSISTANCE_POLICIES,
    account=st.builds(AccountPolicy, enabled=st.booleans()),
    accumulators=ACCUMULATORS,
    acct_balance=fen(200_000),
    acct_used_flag=st.booleans(),
)


def remaining(cap: Money, paid: Money) -> Money:
    return cap - paid if cap.amount > paid.amount else ZERO


def money_fields(obj: object) -> list[tuple[str, Money]]:
    assert dataclasses.is_dataclass(obj)
    return [
        (f.name, getattr(obj, f.name))
        for f in dataclasses.fields(obj)
        if isinstance(getattr(obj, f.name), Money)
    ]


def assert_section5_identities(result: Adjudication) -> None:
    for line in result.lines:
        assert line.det_item_fee_sumamt == (
            line.fulamt_ownpay_amt + line.overlmt_amt + line.preselfpay_amt + line.inscp_scp_amt
        )
    assert result.medfee_sumamt == (
        result.fulamt_ownpay_amt
        + result.overlmt_selfpay
        + result.preselfpay_amt
        + result.inscp_scp_amt
    )
    assert result.fund_pay_sumamt == (
        result.hifp_pay
        + result.cvlserv_pay
        + result.hifes_pay
        + result.hifmi_pay
        + result.hifob_pay
        + result.maf_pay
        + result.oth_pay
    )
    assert result.medfee_sumamt == result.fund_pay_sumamt + result.psn_part_amt
    assert result.psn_part_amt == result.acct_pay + result.psn_cash_pay
    assert sum((row.fund_payamt for row in result.setldetail), ZERO) == result.fund_pay_sumamt


@SETTINGS
@given(CLAIMS)
def test_section5_identities_hold_to_the_fen(claim: ClaimInput) -> None:
    assert_section5_identities(adjudicate(claim))


@SETTINGS
@given(CLAIMS)
def test_every_amount_is_non_negative_and_whole_fen(claim: ClaimInput) -> None:
    result = adjudicate(claim)

    rows: list[object] = [result, result.delta, *result.lines, *result.setldetail]
    for row in rows:
        for name, amount in money_fields(row):
            assert amount.amount >= 0, (type(row).__name__, name, amount)
            assert amount.amount == amount.amount.quantize(Decimal("0.01")), name
    assert all(row.fund_payamt.amount > 0 for row in result.setldetail)


@SETTINGS
@given(CLAIMS)
def test_no_fund_exceeds_what_its_cap_leaves(claim: ClaimInput) -> None:
    result = adjudicate(claim)
    acc = claim.accumulators

    assert result.hifp_pay <= remaining(claim.basic.annual_cap, acc.hifp_paid)
    assert result.hifp_pay <= result.inscp_scp_amt - result.act_pay_dedc
    critical_pay = result.hifmi_pay + result.hifob_pay
    assert ZERO in (result.hifmi_pay, result.hifob_pay)
    if claim.critical_illness is None:
        assert critical_pay == ZERO
    else:
        assert critical_pay <= remaining(claim.critical_illness.annual_cap, acc.critical_paid)
    if claim.assistance is None:
        assert result.maf_pay == ZERO
    else:
        assert result.maf_pay <= remaining(claim.assistance.annual_cap, acc.assistance_paid)
    assert result.fund_pay_sumamt <= result.inscp_scp_amt


@SETTINGS
@given(CLAIMS)
def test_deductible_and_account_stay_within_bounds(claim: ClaimInput) -> None:
    result = adjudicate(claim)

    assert result.act_pay_dedc <= remaining(
        claim.basic.deductible, claim.accumulators.deductible_used
    )
    assert result.acct_pay <= claim.acct_balance
    assert result.balc == claim.acct_balance - result.acct_pay
    non_medical = sum((line.det_item_fee_sumamt for line in claim.lines if line.non_medical), ZERO)
    assert result.acct_pay <= remaining(result.psn_part_amt, non_medical)
    if not (claim.account.enabled and claim.acct_used_flag):
        assert result.acct_pay == ZERO


@SETTINGS
@given(CLAIMS)
def test_banded_funds_round_once_within_half_a_fen(claim: ClaimInput) -> None:
    result = adjudicate(claim)

    for fund in result.explanation.funds:
        exact = sum((Decimal(band.product) for band in fund.bands), Decimal(0))
        assert abs(Decimal(fund.computed) - exact) <= Decimal("0.005")


@SETTINGS
@given(CLAIMS)
def test_apply_then_revert_restores_accumulators(claim: ClaimInput) -> None:
    result = adjudicate(claim)
    before = claim.accumulators

    after = before.apply(result.delta)

    assert after.revert(result.delta) == before
    assert result.delta.acct_spent == result.acct_pay
    moves = {m.name: (Decimal(m.before), Decimal(m.after)) for m in result.explanation.accumulators}
    for field in dataclasses.fields(Accumulators):
        assert moves[field.name] == (
            getattr(before, field.name).amount,
            getattr(after, field.name).amount,
        )


@SETTINGS
@given(CLAIMS)
def test_adjudication_is_deterministic_and_explanation_is_json(claim: ClaimInput) -> None:
    result = adjudicate(claim)

    assert adjudicate(claim) == result
    json.dumps(result.explanation.as_dict(), ensure_ascii=False)


@settings(max_examples=100, deadline=None)
@given(CLAIMS, st.lists(LINE_TUPLES, min_size=1, max_size=4))
def test_a_year_of_claims_respects_annual_limits_and_revokes_exactly(
    claim: ClaimInput, later_lines: list[tuple[PricedLine, ...]]
) -> None:
    """Settling claims in sequence never takes more deductible or pooled fund than the year
    allows; revoking them all, last first, gives back the starting accumulators."""
    start = claim.accumulators
    state = start
    balance = claim.acct_balance
    deltas = []
    for lines in [claim.lines, *later_lines]:
        step = dataclasses.replace(claim, lines=lines, accumulators=state, acct_balance=balance)
        result = adjudicate(step)
        assert_section5_identities(result)
        deltas.append(result.delta)
        state = state.apply(result.delta)
        balance = result.balc
    basic = claim.basic
    assert state.deductible_used.amount <= max(
        basic.deductible.amount, start.deductible_used.amount
    )
    assert state.hifp_paid.amount <= max(basic.annual_cap.amount, start.hifp_paid.amount)

    for delta in reversed(deltas):
        state = state.revert(delta)
        balance = balance + delta.acct_spent
    assert state == start
    assert balance == claim.acct_balance
