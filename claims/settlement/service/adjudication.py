"""The pure adjudication core of one-stop settlement (一站式结算), docs/domain.md section 5.

:func:`adjudicate` turns priced fee lines, the benefit policy that applies to the claim and the
person's year-to-date accumulators into the split of the claim between the funds and the person,
with an explanation of every number and the accumulator delta that settling it causes. It touches
no database and no clock, so pre-settle and settle run the same function on the same inputs and
return the same numbers (domain.md section 5 lifecycle), and property tests can drive it directly.

Rounding (engine.money: half-up to the fen, never the Decimal default):

- per line, ``min(pric, pric_uplmt_amt) × cnt`` and ``capped × selfpay_prop`` are each rounded once
  (section 5 steps 2 and 3);
- a banded fund (the basic pool, critical illness) sums the exact products ``portion × ratio`` of
  all its bands and rounds **once** on the sum. With a single band this is exactly section 5 step 6
  ("× pool_prop, half-up"); with several it keeps the fund within half a fen of the exact policy
  amount, where rounding each band would drift by up to half a fen per band. The explanation shows
  each band's exact product and the one rounded amount;
- medical assistance is one ratio, rounded once;
- every later amount (caps, sums, differences) is fen-exact arithmetic with no rounding.

Every ratio is in [0, 1], so each exact product is at most the fen-exact amount it applies to, and
rounding half-up to the fen never carries a value past a whole fen above it: each fund therefore
pays at most what it applies to. That is what keeps every amount non-negative and the section 5
identities exact to the fen.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import orjson

from claims.settlement.service.benefits import (
    ASSISTANCE_FUND_PAY_TYPE,
    AccountPolicy,
    AccumulatorDelta,
    Accumulators,
    AssistancePolicy,
    BasicPolicy,
    CriticalIllnessPolicy,
    PoolBand,
    band_portions,
    check_amount,
    check_decimal,
    check_ratio,
)
from engine.money import CNY, FEN, ZERO, Money, amount_text, min_money, round_fen, scale
from engine.wire import render_plain, render_price

__all__ = [
    "ASSISTANCE_FUND_PAY_TYPE",
    "CLASS_A",
    "CLASS_B",
    "SELF_PAID",
    "AccountExplanation",
    "AccountPolicy",
    "AccumulatorDelta",
    "AccumulatorMove",
    "Accumulators",
    "Adjudication",
    "AssistancePolicy",
    "BandExplanation",
    "BasicPolicy",
    "ClaimInput",
    "CriticalIllnessPolicy",
    "DeductibleExplanation",
    "Explanation",
    "FundExplanation",
    "FundPayment",
    "LineExplanation",
    "LineSplit",
    "PoolBand",
    "PricedLine",
    "adjudicate",
    "split_line",
]

#: ``chrgitm_lv`` values (docs/domain.md section 2).
CLASS_A = 1
CLASS_B = 2
SELF_PAID = 3

_PRICE_QUANTUM = Decimal("0.0001")


def _exact_text(value: Decimal) -> str:
    """An unrounded intermediate (a band's product): two decimals when it is whole fen, else every
    digit it has, so the explanation shows the exact figure the fund rounds once."""
    cents = value.quantize(FEN)
    return f"{cents:.2f}" if value == cents else f"{value.normalize():f}"


def _money_max0(amount: Money) -> Money:
    return amount if amount.amount > 0 else ZERO


def _total(*amounts: Money) -> Money:
    """Sum fen-exact amounts (exact, no rounding); summing the Decimals and wrapping once avoids
    a Money object per addition on the hot path."""
    return Money(sum((amount.amount for amount in amounts), Decimal(0)), CNY)


# --- inputs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PricedLine:
    """A fee line after pricing (docs/domain.md section 3): ``det_item_fee_sumamt = pric × cnt``
    half-up, computed by the pricing module and re-checked here because the per-line identity of
    section 5 depends on it."""

    feedetl_sn: str
    med_list_codg: str
    chrgitm_lv: int
    non_medical: bool
    pric: Decimal
    cnt: Decimal
    det_item_fee_sumamt: Money
    pric_uplmt_amt: Decimal | None
    selfpay_prop: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.feedetl_sn, str) or not self.feedetl_sn:
            raise ValueError("feedetl_sn must be a non-empty string")
        if not isinstance(self.med_list_codg, str):
            raise TypeError("med_list_codg must be a string")
        if isinstance(self.chrgitm_lv, bool) or not isinstance(self.chrgitm_lv, int):
            raise TypeError(f"chrgitm_lv must be int, not {type(self.chrgitm_lv).__name__}")
        if self.chrgitm_lv not in (CLASS_A, CLASS_B, SELF_PAID):
            raise ValueError(f"chrgitm_lv must be 1, 2 or 3, got {self.chrgitm_lv}")
        if not isinstance(self.non_medical, bool):
            raise TypeError("non_medical must be bool")
        _check_unit_price("pric", self.pric)
        cnt = check_decimal("cnt", self.cnt)
        if cnt <= 0:
            raise ValueError(f"cnt must be positive, got {cnt}")
        check_amount("det_item_fee_sumamt", self.det_item_fee_sumamt)
        if self.pric_uplmt_amt is not None:
            _check_unit_price("pric_uplmt_amt", self.pric_uplmt_amt)
        check_ratio("selfpay_prop", self.selfpay_prop)
        if self.det_item_fee_sumamt != scale(self.pric, self.cnt):
            raise ValueError(
                f"line {self.feedetl_sn}: det_item_fee_sumamt {self.det_item_fee_sumamt.amount} "
                f"is not pric × cnt = {scale(self.pric, self.cnt).amount}"
            )


def _check_unit_price(name: str, value: object) -> None:
    """Unit prices carry up to four decimals (drug prices, docs/domain.md section 3)."""
    price = check_decimal(name, value)
    if price < 0:
        raise ValueError(f"{name} must not be negative, got {price}")
    if price != price.quantize(_PRICE_QUANTUM):
        raise ValueError(f"{name} has more than four decimals: {price}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimInput:
    """Everything one settlement depends on, resolved by the caller: the lines, the policy rows
    for this person and claim, the year-to-date accumulators and the account balance."""

    lines: tuple[PricedLine, ...]
    basic: BasicPolicy
    critical_illness: CriticalIllnessPolicy | None = None
    assistance: AssistancePolicy | None = None
    account: AccountPolicy
    accumulators: Accumulators
    acct_balance: Money
    acct_used_flag: bool

    def __post_init__(self) -> None:
        if not isinstance(self.lines, tuple):
            raise TypeError("lines must be a tuple of PricedLine")
        seen: set[str] = set()
        for line in self.lines:
            if not isinstance(line, PricedLine):
                raise TypeError(f"lines must hold PricedLine, not {type(line).__name__}")
            if line.feedetl_sn in seen:
                raise ValueError(f"duplicate feedetl_sn {line.feedetl_sn!r}")
            seen.add(line.feedetl_sn)
        _check_type("basic", self.basic, BasicPolicy)
        if self.critical_illness is not None:
            _check_type("critical_illness", self.critical_illness, CriticalIllnessPolicy)
        if self.assistance is not None:
            _check_type("assistance", self.assistance, AssistancePolicy)
        _check_type("account", self.account, AccountPolicy)
        _check_type("accumulators", self.accumulators, Accumulators)
        check_amount("acct_balance", self.acct_balance)
        if not isinstance(self.acct_used_flag, bool):
            raise TypeError("acct_used_flag must be bool")


def _check_type(name: str, value: object, expected: type) -> None:
    if not isinstance(value, expected):
        raise TypeError(f"{name} must be {expected.__name__}, not {type(value).__name__}")


# --- explanation (JSON-ready: strings for amounts and ratios) -----------------------------------


@dataclass(frozen=True, slots=True)
class AccumulatorMove:
    """One accumulator before and after this settlement."""

    name: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class LineExplanation:
    """How one line was split (section 5 steps 1–4), like a FHIR ClaimResponse item adjudication.

    ``rule`` is one of ``non_medical``, ``self_paid``, ``class_a``, ``class_b``; ``capped_amt`` is
    the line at the payment standard (step 2), ``0.00`` for a line wholly self-paid by step 1.
    """

    feedetl_sn: str
    med_list_codg: str
    rule: str
    basis: str
    chrgitm_lv: int
    pric: str
    cnt: str
    pric_uplmt_amt: str | None
    selfpay_prop: str | None
    det_item_fee_sumamt: str
    capped_amt: str
    fulamt_ownpay_amt: str
    overlmt_amt: str
    preselfpay_amt: str
    inscp_scp_amt: str


@dataclass(frozen=True, slots=True)
class DeductibleExplanation:
    """Section 5 step 5: the deductible (起付线) taken from this claim's in-scope amount."""

    basis: str
    deductible: str
    remaining_before: str
    inscp_scp_amt: str
    act_pay_dedc: str
    accumulator: AccumulatorMove


@dataclass(frozen=True, slots=True)
class BandExplanation:
    """One band of a fund's ratio: the portion of the base in ``(lower, upper]`` times ``ratio``.

    ``product`` is exact (not rounded): the fund rounds once on the sum of its bands.
    """

    lower: str
    upper: str | None
    ratio: str
    portion: str
    product: str


@dataclass(frozen=True, slots=True)
class FundExplanation:
    """How one fund's payment was computed (section 5 steps 6–8).

    ``computed`` is the banded amount rounded half-up once; ``fund_payamt`` is that amount limited
    by ``cap_remaining`` (annual cap minus what the fund already paid this year, floored at 0).
    """

    field: str
    fund_pay_type: str
    basis: str
    base: str
    bands: tuple[BandExplanation, ...]
    computed: str
    annual_cap: str
    cap_remaining: str
    limited_by_cap: bool
    fund_payamt: str
    accumulators: tuple[AccumulatorMove, ...]
    threshold: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class AccountExplanation:
    """Section 5 step 10: what the personal account paid and why."""

    basis: str
    enabled: bool
    acct_used_flag: bool
    psn_part_amt: str
    non_medical_amt: str
    payable: str
    balance_before: str
    acct_pay: str
    balc: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """The settlement explaining itself (domain.md section 5): per line, deductible, per fund and
    account, plus every accumulator before and after."""

    lines: tuple[LineExplanation, ...]
    deductible: DeductibleExplanation
    funds: tuple[FundExplanation, ...]
    account: AccountExplanation
    accumulators: tuple[AccumulatorMove, ...]

    def as_dict(self) -> dict[str, object]:
        """A JSON-serialisable dict (only str, bool, None, lists and dicts).

        Through orjson, which serialises slotted dataclasses natively: ``dataclasses.asdict``
        deep-copies every leaf, and on the settlement hot path walking the tree in Python cost
        more than the adjudication itself."""
        plain = orjson.loads(orjson.dumps(self))
        assert isinstance(plain, dict)
        return plain


# --- outputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineSplit:
    """One line's split; ``det_item_fee_sumamt = fulamt_ownpay_amt + overlmt_amt +
    preselfpay_amt + inscp_scp_amt`` exactly (section 5, first identity, per line)."""

    feedetl_sn: str
    det_item_fee_sumamt: Money
    fulamt_ownpay_amt: Money
    overlmt_amt: Money
    preselfpay_amt: Money
    inscp_scp_amt: Money


@dataclass(frozen=True, slots=True)
class FundPayment:
    """One ``setldetail`` row: a fund that paid something on this claim.

    ``inscp_scp_amt`` is the amount the fund's ratio applied to; ``crt_payb_lmt_amt`` is what the
    fund could still pay this year before this claim (annual cap remaining).
    """

    fund_pay_type: str
    fund_payamt: Money
    inscp_scp_amt: Money
    crt_payb_lmt_amt: Money
    setl_proc_info: str


@dataclass(frozen=True, slots=True)
class Adjudication:
    """The result of adjudicating one claim, with the national field names of the settlement."""

    lines: tuple[LineSplit, ...]
    medfee_sumamt: Money
    fulamt_ownpay_amt: Money
    overlmt_selfpay: Money
    preselfpay_amt: Money
    inscp_scp_amt: Money
    act_pay_dedc: Money
    hifp_pay: Money
    cvlserv_pay: Money
    hifes_pay: Money
    hifmi_pay: Money
    hifob_pay: Money
    maf_pay: Money
    oth_pay: Money
    fund_pay_sumamt: Money
    psn_part_amt: Money
    acct_pay: Money
    psn_cash_pay: Money
    balc: Money
    setldetail: tuple[FundPayment, ...]
    explanation: Explanation
    delta: AccumulatorDelta


# --- the rules -----------------------------------------------------------------------------------


def split_line(line: PricedLine) -> tuple[LineSplit, LineExplanation]:
    """Section 5 steps 1–4 for one line."""
    amount = line.det_item_fee_sumamt
    selfpay_prop: str | None = None
    if line.non_medical or line.chrgitm_lv == SELF_PAID:
        # Step 1: delivery and other non-medical fees are never paid by insurance (医保发〔2020〕
        # 45号), and class 3 items are outside the catalogue: the whole amount is the person's.
        rule = "non_medical" if line.non_medical else "self_paid"
        basis = "docs/domain.md §5 step 1: " + (
            "non-medical fee, whole amount to fulamt_ownpay_amt"
            if line.non_medical
            else "class 3 (self-paid), whole amount to fulamt_ownpay_amt"
        )
        capped = ZERO
        fulamt, overlmt, preselfpay, inscp = amount, ZERO, ZERO, ZERO
    else:
        cap = line.pric_uplmt_amt
        # Step 2: only the part of the price up to the payment standard can be in scope.
        capped = scale(cap, line.cnt) if cap is not None and cap < line.pric else amount
        overlmt = amount - capped
        if line.chrgitm_lv == CLASS_B:
            # Step 3: class B carries a self-pay share first, rounded half-up to the fen.
            rule = "class_b"
            preselfpay = scale(capped, line.selfpay_prop)
            selfpay_prop = render_plain(line.selfpay_prop)
            basis = (
                "docs/domain.md §5 steps 2-3: class B, price limited to the payment standard, "
                "selfpay_prop of the capped amount to preselfpay_amt, the rest in scope"
            )
        else:
            rule = "class_a"
            preselfpay = ZERO
            basis = (
                "docs/domain.md §5 steps 2 and 4: class A, price limited to the payment standard, "
                "capped amount in scope"
            )
        fulamt, inscp = ZERO, capped - preselfpay
    split = LineSplit(
        feedetl_sn=line.feedetl_sn,
        det_item_fee_sumamt=amount,
        fulamt_ownpay_amt=fulamt,
        overlmt_amt=overlmt,
        preselfpay_amt=preselfpay,
        inscp_scp_amt=inscp,
    )
    explanation = LineExplanation(
        feedetl_sn=line.feedetl_sn,
        med_list_codg=line.med_list_codg,
        rule=rule,
        basis=basis,
        chrgitm_lv=line.chrgitm_lv,
        pric=render_price(line.pric),
        cnt=render_plain(line.cnt),
        pric_uplmt_amt=None if line.pric_uplmt_amt is None else render_price(line.pric_uplmt_amt),
        selfpay_prop=selfpay_prop,
        det_item_fee_sumamt=amount_text(amount),
        capped_amt=amount_text(capped),
        fulamt_ownpay_amt=amount_text(fulamt),
        overlmt_amt=amount_text(overlmt),
        preselfpay_amt=amount_text(preselfpay),
        inscp_scp_amt=amount_text(inscp),
    )
    return split, explanation


@dataclass(frozen=True, slots=True)
class _Banded:
    amount: Money
    bands: tuple[BandExplanation, ...]


def _banded(bands: tuple[PoolBand, ...], low: Money, high: Money) -> _Banded:
    """``Σ portion × ratio`` over the bands for the interval (``low``, ``high``], rounded half-up
    once on the exact sum (see the module docstring for why once)."""
    exact = Decimal(0)
    rows: list[BandExplanation] = []
    lower = ZERO
    for band, portion in zip(bands, band_portions(bands, low, high), strict=True):
        product = portion.amount * band.ratio
        exact += product
        rows.append(
            BandExplanation(
                lower=amount_text(lower),
                upper=None if band.upto is None else amount_text(band.upto),
                ratio=render_plain(band.ratio),
                portion=amount_text(portion),
                product=_exact_text(product),
            )
        )
        if band.upto is not None:
            lower = band.upto
    return _Banded(amount=Money(round_fen(exact), CNY), bands=tuple(rows))


@dataclass(frozen=True, slots=True)
class _Capped:
    payamt: Money
    remaining: Money
    limited: bool


def _limit(computed: Money, annual_cap: Money, paid: Money) -> _Capped:
    """Limit a fund's payment to what its annual cap still allows; the remainder is floored at 0
    so a cap lowered mid-year (or already exhausted) pays nothing rather than claws back."""
    remaining = _money_max0(annual_cap - paid)
    payamt = min_money(computed, remaining)
    return _Capped(payamt=payamt, remaining=remaining, limited=payamt != computed)


def _move(name: str, before: Money, delta: Money) -> AccumulatorMove:
    return AccumulatorMove(name=name, before=amount_text(before), after=amount_text(before + delta))


@dataclass(frozen=True, slots=True)
class _FundResult:
    payamt: Money
    note: FundExplanation
    detail: FundPayment | None


def _fund_result(
    *,
    field: str,
    fund_pay_type: str,
    basis: str,
    base: Money,
    bands: tuple[BandExplanation, ...],
    computed: Money,
    limited: _Capped,
    annual_cap: Money,
    accumulators: tuple[AccumulatorMove, ...],
    setl_proc_info: str,
    threshold: Money | None = None,
    category: str | None = None,
) -> _FundResult:
    """Package one fund's payment as its explanation entry and, when it paid, its setldetail row
    (only funds that paid appear in ``setldetail``; every configured fund is explained)."""
    note = FundExplanation(
        field=field,
        fund_pay_type=fund_pay_type,
        basis=basis,
        base=amount_text(base),
        bands=bands,
        computed=amount_text(computed),
        annual_cap=amount_text(annual_cap),
        cap_remaining=amount_text(limited.remaining),
        limited_by_cap=limited.limited,
        fund_payamt=amount_text(limited.payamt),
        accumulators=accumulators,
        threshold=None if threshold is None else amount_text(threshold),
        category=category,
    )
    detail = None
    if limited.payamt.amount > 0:
        detail = FundPayment(
            fund_pay_type=fund_pay_type,
            fund_payamt=limited.payamt,
            inscp_scp_amt=base,
            crt_payb_lmt_amt=limited.remaining,
            setl_proc_info=setl_proc_info,
        )
    return _FundResult(payamt=limited.payamt, note=note, detail=detail)


def _basic_pool(policy: BasicPolicy, pool_base: Money, acc: Accumulators) -> _FundResult:
    """Section 5 step 6: the basic pooled fund, banded over this claim's in-scope amount above
    the deductible, limited by the annual cap remaining (example D)."""
    pool = _banded(policy.pool_bands, ZERO, pool_base)
    limited = _limit(pool.amount, policy.annual_cap, acc.hifp_paid)
    return _fund_result(
        field="hifp_pay",
        fund_pay_type=policy.fund_pay_type,
        basis=(
            "docs/domain.md §5 step 6: (inscp_scp_amt − act_pay_dedc) × pool_prop bands, "
            "half-up, limited by the annual cap remaining"
        ),
        base=pool_base,
        bands=pool.bands,
        computed=pool.amount,
        limited=limited,
        annual_cap=policy.annual_cap,
        accumulators=(_move("hifp_paid", acc.hifp_paid, limited.payamt),),
        setl_proc_info="basic pooled fund",
    )


def _critical_illness(
    policy: CriticalIllnessPolicy, personal_inscp: Money, acc: Accumulators
) -> _FundResult:
    """Section 5 step 7: critical illness pays on the segment (before, after] of the person's
    cumulative in-scope personal share that lies above the threshold, so a claim that crosses
    the threshold pays only on its part above it (example C)."""
    cum_before = acc.inscp_psn_cum
    low = _money_max0(cum_before - policy.threshold)
    high = _money_max0(cum_before + personal_inscp - policy.threshold)
    banded = _banded(policy.bands, low, high)
    limited = _limit(banded.amount, policy.annual_cap, acc.critical_paid)
    return _fund_result(
        field=policy.field,
        fund_pay_type=policy.fund_pay_type,
        basis=(
            "domain.md §5 step 7: bands over the part of the cumulative in-scope personal share "
            "(inscp_scp_amt − hifp_pay, accumulated) above the threshold, half-up, limited by "
            "the annual cap remaining"
        ),
        base=high - low,
        bands=banded.bands,
        computed=banded.amount,
        limited=limited,
        annual_cap=policy.annual_cap,
        accumulators=(
            _move("inscp_psn_cum", cum_before, personal_inscp),
            _move("critical_paid", acc.critical_paid, limited.payamt),
        ),
        setl_proc_info="critical illness insurance",
        threshold=policy.threshold,
    )


def _assistance(policy: AssistancePolicy, assist_base: Money, acc: Accumulators) -> _FundResult:
    """Section 5 step 8: medical assistance, one ratio of the in-scope personal share left after
    the insurances (example B), limited by the annual cap remaining."""
    computed = scale(assist_base, policy.ratio)
    limited = _limit(computed, policy.annual_cap, acc.assistance_paid)
    band = BandExplanation(
        lower=amount_text(ZERO),
        upper=None,
        ratio=render_plain(policy.ratio),
        portion=amount_text(assist_base),
        product=_exact_text(assist_base.amount * policy.ratio),
    )
    return _fund_result(
        field="maf_pay",
        fund_pay_type=policy.fund_pay_type,
        basis=(
            "docs/domain.md §5 step 8: ratio × (inscp_scp_amt − hifp_pay − critical illness), "
            "half-up, limited by the annual cap remaining"
        ),
        base=assist_base,
        bands=(band,),
        computed=computed,
        limited=limited,
        annual_cap=policy.annual_cap,
        accumulators=(_move("assistance_paid", acc.assistance_paid, limited.payamt),),
        setl_proc_info=f"medical assistance ({policy.category})",
        category=policy.category,
    )


def adjudicate(claim: ClaimInput) -> Adjudication:
    """Split one claim between the funds and the person, docs/domain.md section 5 steps 1–10.

    Pure: the result depends only on ``claim``. Applying ``result.delta`` to the accumulators (and
    debiting ``delta.acct_spent`` from the account) is the caller's job at settle; subtracting the
    same delta is the whole of a revoke.
    """
    if not isinstance(claim, ClaimInput):
        raise TypeError(f"adjudicate() takes a ClaimInput, not {type(claim).__name__}")
    acc = claim.accumulators

    # Steps 1-4 per line, then the claim sums.
    splits: list[LineSplit] = []
    line_notes: list[LineExplanation] = []
    for line in claim.lines:
        split, note = split_line(line)
        splits.append(split)
        line_notes.append(note)
    medfee = _total(*(s.det_item_fee_sumamt for s in splits))
    fulamt = _total(*(s.fulamt_ownpay_amt for s in splits))
    overlmt = _total(*(s.overlmt_amt for s in splits))
    preselfpay = _total(*(s.preselfpay_amt for s in splits))
    inscp = _total(*(s.inscp_scp_amt for s in splits))
    non_medical = _total(*(ln.det_item_fee_sumamt for ln in claim.lines if ln.non_medical))

    # Step 5: the deductible, from what is left of this year's.
    dedc_remaining = _money_max0(claim.basic.deductible - acc.deductible_used)
    act_pay_dedc = min_money(inscp, dedc_remaining)
    deductible_note = DeductibleExplanation(
        basis="docs/domain.md §5 step 5: act_pay_dedc = min(inscp_scp_amt, deductible remaining)",
        deductible=amount_text(claim.basic.deductible),
        remaining_before=amount_text(dedc_remaining),
        inscp_scp_amt=amount_text(inscp),
        act_pay_dedc=amount_text(act_pay_dedc),
        accumulator=_move("deductible_used", acc.deductible_used, act_pay_dedc),
    )

    # Steps 6-8: the funds, each on what the previous ones left of the in-scope amount.
    results = [_basic_pool(claim.basic, inscp - act_pay_dedc, acc)]
    hifp_pay = results[0].payamt
    personal_inscp = inscp - hifp_pay
    hifmi_pay = hifob_pay = critical_pay = ZERO
    if claim.critical_illness is not None:
        results.append(_critical_illness(claim.critical_illness, personal_inscp, acc))
        critical_pay = results[-1].payamt
        if claim.critical_illness.field == "hifmi_pay":
            hifmi_pay = critical_pay
        else:
            hifob_pay = critical_pay
    maf_pay = ZERO
    if claim.assistance is not None:
        results.append(_assistance(claim.assistance, personal_inscp - critical_pay, acc))
        maf_pay = results[-1].payamt

    # Step 9: civil-servant subsidy, enterprise supplement and others are not modelled yet, but
    # are part of the sum so the wire fields and the identity stay complete.
    cvlserv_pay = hifes_pay = oth_pay = ZERO
    fund_pay_sumamt = _total(
        hifp_pay, cvlserv_pay, hifes_pay, hifmi_pay, hifob_pay, maf_pay, oth_pay
    )

    # Step 10: the personal account pays what it may of the personal part; it may not pay
    # delivery or other non-medical fees (docs/domain.md section 4) and never goes below zero.
    psn_part = medfee - fund_pay_sumamt
    payable = _money_max0(psn_part - non_medical)
    use_account = claim.account.enabled and claim.acct_used_flag
    acct_pay = min_money(payable, claim.acct_balance) if use_account else ZERO
    psn_cash_pay = psn_part - acct_pay
    balc = claim.acct_balance - acct_pay
    account_note = AccountExplanation(
        basis=(
            "docs/domain.md §5 step 10: acct_pay = min(psn_part_amt − non-medical fees, balance) "
            "when the account is enabled and acct_used_flag is set"
        ),
        enabled=claim.account.enabled,
        acct_used_flag=claim.acct_used_flag,
        psn_part_amt=amount_text(psn_part),
        non_medical_amt=amount_text(non_medical),
        payable=amount_text(payable),
        balance_before=amount_text(claim.acct_balance),
        acct_pay=amount_text(acct_pay),
        balc=amount_text(balc),
    )

    delta = AccumulatorDelta(
        deductible_used=act_pay_dedc,
        hifp_paid=hifp_pay,
        inscp_psn_cum=personal_inscp,
        critical_paid=critical_pay,
        assistance_paid=maf_pay,
        acct_spent=acct_pay,
    )
    explanation = Explanation(
        lines=tuple(line_notes),
        deductible=deductible_note,
        funds=tuple(r.note for r in results),
        account=account_note,
        accumulators=(
            _move("deductible_used", acc.deductible_used, delta.deductible_used),
            _move("hifp_paid", acc.hifp_paid, delta.hifp_paid),
            _move("inscp_psn_cum", acc.inscp_psn_cum, delta.inscp_psn_cum),
            _move("critical_paid", acc.critical_paid, delta.critical_paid),
            _move("assistance_paid", acc.assistance_paid, delta.assistance_paid),
            _move("acct_balance", claim.acct_balance, -acct_pay),
        ),
    )
    return Adjudication(
        lines=tuple(splits),
        medfee_sumamt=medfee,
        fulamt_ownpay_amt=fulamt,
        overlmt_selfpay=overlmt,
        preselfpay_amt=preselfpay,
        inscp_scp_amt=inscp,
        act_pay_dedc=act_pay_dedc,
        hifp_pay=hifp_pay,
        cvlserv_pay=cvlserv_pay,
        hifes_pay=hifes_pay,
        hifmi_pay=hifmi_pay,
        hifob_pay=hifob_pay,
        maf_pay=maf_pay,
        oth_pay=oth_pay,
        fund_pay_sumamt=fund_pay_sumamt,
        psn_part_amt=psn_part,
        acct_pay=acct_pay,
        psn_cash_pay=psn_cash_pay,
        balc=balc,
        setldetail=tuple(r.detail for r in results if r.detail is not None),
        explanation=explanation,
        delta=delta,
    )
