"""Benefit policy and year-to-date accumulator value types for one-stop settlement.

Everything that varies by pooling region, year, insutype, med_type or institution level is data
(docs/domain.md section 4): the caller resolves the policy rows that apply to a claim (including the
retiree ratio) and hands them to :func:`claims.settlement.service.adjudication.adjudicate` as
these immutable values.
The accumulators are the person's running totals for the benefit year; a settlement moves them by
an :class:`AccumulatorDelta` and a revoke moves them back by exactly the same numbers
(docs/domain.md section 5, lifecycle: "revoke: exact reversal of every effect").

The checks here refuse floats and malformed amounts at construction, so the arithmetic in the
adjudication core can assume fen-exact, non-negative CNY and ratios in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.money import CNY, FEN, ZERO, Money

__all__ = [
    "ASSISTANCE_FUND_PAY_TYPE",
    "CRITICAL_ILLNESS_FIELDS",
    "AccountPolicy",
    "AccumulatorDelta",
    "Accumulators",
    "AssistancePolicy",
    "BasicPolicy",
    "CriticalIllnessPolicy",
    "PoolBand",
    "band_portions",
    "check_amount",
    "check_decimal",
    "check_ratio",
]

#: Critical-illness fund codes and the settlement field each one pays into (domain.md section 4:
#: ``hifmi_pay`` for residents' 大病保险, ``hifob_pay`` for employees' large-expense subsidy).
CRITICAL_ILLNESS_FIELDS: dict[str, str] = {"390200": "hifmi_pay", "330100": "hifob_pay"}

#: Medical assistance (医疗救助) fund code, paid as ``maf_pay``.
ASSISTANCE_FUND_PAY_TYPE = "610100"


def check_amount(name: str, value: object) -> Money:
    """Refuse anything but a non-negative, fen-exact CNY :class:`Money`.

    Floats are refused with ``TypeError`` (engine.money: a float near money is a fen error waiting
    to happen); sub-fen amounts are refused because every rounding point of section 5 is explicit.
    """
    if not isinstance(value, Money):
        raise TypeError(f"{name} must be Money, not {type(value).__name__}")
    if value.currency != CNY:
        raise ValueError(f"{name} must be CNY, got {value.currency}")
    amount = value.amount
    if not amount.is_finite() or amount != amount.quantize(FEN):
        raise ValueError(f"{name} must be a whole number of fen, got {amount}")
    if amount < 0:
        raise ValueError(f"{name} must not be negative, got {amount}")
    return value


def check_decimal(name: str, value: object) -> Decimal:
    """Refuse anything but a finite ``Decimal`` (floats and bools included) with ``TypeError``."""
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise TypeError(f"{name} must be Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_ratio(name: str, value: object) -> Decimal:
    """A payment or self-pay ratio: a ``Decimal`` in [0, 1].

    Bounding the ratio is what keeps every fund payment at or below the amount it applies to, so
    ``psn_part_amt`` can never go negative (docs/domain.md section 5 identities).
    """
    ratio = check_decimal(name, value)
    if not Decimal(0) <= ratio <= Decimal(1):
        raise ValueError(f"{name} must be between 0 and 1, got {ratio}")
    return ratio


def _check_fund_pay_type(value: object) -> str:
    if not isinstance(value, str) or len(value) != 6 or not value.isdigit():
        raise ValueError(f"fund_pay_type must be a six-digit code, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class PoolBand:
    """One band of a banded payment ratio (docs/domain.md section 4: ``pool_prop`` "may be banded").

    ``upto`` is the cumulative upper bound of the band on the amount the bands apply to (for the
    basic pool: this claim's in-scope amount above the deductible; for critical illness: the
    cumulative personal share above the threshold). ``None`` marks the open last band.
    """

    upto: Money | None
    ratio: Decimal

    def __post_init__(self) -> None:
        if self.upto is not None:
            check_amount("PoolBand.upto", self.upto)
            if self.upto.amount == 0:
                raise ValueError("PoolBand.upto must be positive")
        check_ratio("PoolBand.ratio", self.ratio)


def _check_bands(name: str, bands: object) -> None:
    """Bands are non-empty, strictly increasing and end with one open band, so every amount falls
    in exactly one band."""
    if not isinstance(bands, tuple) or not bands:
        raise ValueError(f"{name} must be a non-empty tuple of PoolBand")
    previous = ZERO
    for index, band in enumerate(bands):
        if not isinstance(band, PoolBand):
            raise TypeError(f"{name}[{index}] must be a PoolBand, not {type(band).__name__}")
        last = index == len(bands) - 1
        if band.upto is None:
            if not last:
                raise ValueError(f"{name}: only the last band may be open (upto=None)")
        else:
            if last:
                raise ValueError(f"{name}: the last band must be open (upto=None)")
            if band.upto.amount <= previous.amount:
                raise ValueError(f"{name}: band bounds must strictly increase")
            previous = band.upto


def band_portions(bands: tuple[PoolBand, ...], low: Money, high: Money) -> tuple[Money, ...]:
    """The part of the interval (``low``, ``high``] that lies in each band, in band order.

    Band bounds and both ends are fen-exact, so every portion is too; the portions sum to
    ``high − low`` (or zero when ``high ≤ low``).
    """
    portions: list[Money] = []
    start = ZERO
    for band in bands:
        seg_low = max(low.amount, start.amount)
        seg_high = high.amount if band.upto is None else min(high.amount, band.upto.amount)
        portions.append(Money(max(seg_high - seg_low, Decimal(0)), CNY))
        if band.upto is not None:
            start = band.upto
    return tuple(portions)


@dataclass(frozen=True, slots=True)
class BasicPolicy:
    """Basic pooled fund (统筹基金) benefit for the claim's category (docs/domain.md section 4).

    ``pool_bands`` is already resolved for the person (retiree ratio, institution level) by the
    caller; a single open band is the common case.
    """

    fund_pay_type: str
    deductible: Money
    pool_bands: tuple[PoolBand, ...]
    annual_cap: Money

    def __post_init__(self) -> None:
        _check_fund_pay_type(self.fund_pay_type)
        check_amount("BasicPolicy.deductible", self.deductible)
        _check_bands("BasicPolicy.pool_bands", self.pool_bands)
        check_amount("BasicPolicy.annual_cap", self.annual_cap)


@dataclass(frozen=True, slots=True)
class CriticalIllnessPolicy:
    """Critical-illness insurance (大病保险): pays on the cumulative annual in-scope personal share
    above ``threshold``, banded over the amount above the threshold, with an annual cap
    (domain.md section 4; guidance: threshold ≤ 50% of per-capita disposable income, ratio ≥ 60%).
    """

    fund_pay_type: str
    threshold: Money
    bands: tuple[PoolBand, ...]
    annual_cap: Money

    def __post_init__(self) -> None:
        if self.fund_pay_type not in CRITICAL_ILLNESS_FIELDS:
            known = ", ".join(sorted(CRITICAL_ILLNESS_FIELDS))
            raise ValueError(
                f"critical-illness fund_pay_type must be one of {known}, got {self.fund_pay_type!r}"
            )
        check_amount("CriticalIllnessPolicy.threshold", self.threshold)
        _check_bands("CriticalIllnessPolicy.bands", self.bands)
        check_amount("CriticalIllnessPolicy.annual_cap", self.annual_cap)

    @property
    def field(self) -> str:
        """The settlement field this fund pays into: ``hifmi_pay`` or ``hifob_pay``."""
        return CRITICAL_ILLNESS_FIELDS[self.fund_pay_type]


@dataclass(frozen=True, slots=True)
class AssistancePolicy:
    """Medical assistance (医疗救助, ``maf_pay``) for an eligible category such as 低保 or 特困: a
    ratio of the in-scope personal share left after the insurances, with an annual cap
    (docs/domain.md section 4)."""

    fund_pay_type: str
    category: str
    ratio: Decimal
    annual_cap: Money

    def __post_init__(self) -> None:
        _check_fund_pay_type(self.fund_pay_type)
        if not isinstance(self.category, str) or not self.category:
            raise ValueError("AssistancePolicy.category must be a non-empty string")
        check_ratio("AssistancePolicy.ratio", self.ratio)
        check_amount("AssistancePolicy.annual_cap", self.annual_cap)


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    """Whether the personal account (个人账户, employees) may pay the personal share.

    The account (``310200``) is not a fund: ``acct_pay`` is part of ``psn_part_amt``
    (docs/domain.md section 4 and 5, step 10).
    """

    enabled: bool

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise TypeError("AccountPolicy.enabled must be bool")


@dataclass(frozen=True, slots=True)
class AccumulatorDelta:
    """How one settlement moves the person's accumulators and account.

    Settle applies it, revoke subtracts exactly the same numbers (domain.md section 5 lifecycle),
    so nothing is recomputed at revoke time. ``acct_spent`` is the account debit (``acct_pay``);
    the balance lives on the account, not in :class:`Accumulators`.
    """

    deductible_used: Money
    hifp_paid: Money
    inscp_psn_cum: Money
    critical_paid: Money
    assistance_paid: Money
    acct_spent: Money

    def __post_init__(self) -> None:
        for name in (
            "deductible_used",
            "hifp_paid",
            "inscp_psn_cum",
            "critical_paid",
            "assistance_paid",
            "acct_spent",
        ):
            check_amount(f"AccumulatorDelta.{name}", getattr(self, name))


_ACCUMULATOR_FIELDS = (
    "deductible_used",
    "hifp_paid",
    "inscp_psn_cum",
    "critical_paid",
    "assistance_paid",
)


@dataclass(frozen=True, slots=True)
class Accumulators:
    """The person's year-to-date totals for this benefit year and category (domain.md section 4:
    deductible and caps are annual, critical illness works on the cumulative personal share)."""

    deductible_used: Money = ZERO
    hifp_paid: Money = ZERO
    inscp_psn_cum: Money = ZERO
    critical_paid: Money = ZERO
    assistance_paid: Money = ZERO

    def __post_init__(self) -> None:
        for name in _ACCUMULATOR_FIELDS:
            check_amount(f"Accumulators.{name}", getattr(self, name))

    def apply(self, delta: AccumulatorDelta) -> Accumulators:
        """The accumulators after a settlement with ``delta``."""
        if not isinstance(delta, AccumulatorDelta):
            raise TypeError("apply() takes an AccumulatorDelta")
        return Accumulators(
            **{name: getattr(self, name) + getattr(delta, name) for name in _ACCUMULATOR_FIELDS}
        )

    def revert(self, delta: AccumulatorDelta) -> Accumulators:
        """The accumulators after revoking a settlement with ``delta``.

        A revoke must reverse a settlement that was applied; an accumulator that would go below
        zero means the delta was never applied here, and is refused rather than clamped.
        """
        if not isinstance(delta, AccumulatorDelta):
            raise TypeError("revert() takes an AccumulatorDelta")
        values: dict[str, Money] = {}
        for name in _ACCUMULATOR_FIELDS:
            after = getattr(self, name) - getattr(delta, name)
            if after.amount < 0:
                raise ValueError(f"revert would make {name} negative: delta was not applied here")
            values[name] = after
        return Accumulators(**values)
