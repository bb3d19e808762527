"""Global budgets (总额预算, domain.md section 7), and the rules all three payment methods share.

A provider's year has a budget B. Each month it is prepaid min(month's fund share, B/12) × (1 − w),
the rest held back as quality withholding. At year end, with A the year's fund share:

* A ≤ B (surplus): A plus the retained share of the surplus, ``surplus_retention_ratio`` × (B − A)
  at most ``surplus_retention_cap_ratio`` × B (结余留用);
* B < A ≤ B × corridor: B plus ``overspend_share_ratio`` × (A − B) (超支分担);
* A > B × corridor: as at the corridor; the part beyond it is not paid (超支不补).

The quality score then releases the withheld pool (:class:`QualityRule`) and the final clearing is
entitlement − forfeited withholding − prepayments, negative when the provider was overpaid. The
same prepay/withhold/release rule drives DIP deposits (``claims.funding.dip``) and bundle capitation
(``claims.funding.bundles``), and the same ledger (``FundingLedgerEntry``) records all three.

"Fund share" is the basic pooled fund's payment (``hifp_pay``) of the provider's settlements: the
global budget is a budget of that fund; critical-illness insurance and medical assistance are other
funds, cleared item by item. Periods are calendar months in China Standard Time (UTC+8), the time
every pooling region keeps; every rounding is :func:`engine.money.scale`, half-up to the fen.

A month's prepayment is a record, not a transfer: its ledger entry is the one figure of what the
budget pays for the month, and the month's clearing batches (3203, one per ``clr_type``) are the
payment instruction that pays it, each its part (:func:`apportion`), taken from the entry
(``claims.clearing``). Approving a batch makes the prepayment first if the month run has not.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import repository as repo
from claims.funding.models import YEAR_END_PERIOD, FundingLedgerEntry, GlobalBudget, QualityTerms
from claims.funding.schemas import (
    Balance,
    BudgetFigures,
    BudgetIn,
    BudgetMonthOut,
    BudgetOut,
    ClearingOut,
    LedgerEntryOut,
    PrepaymentOut,
    QualityTermsIn,
    SchemeKind,
)
from engine import audit, outbox
from engine.auth import Principal, Role, find_organisation
from engine.clock import CST, local_date
from engine.db import utcnow
from engine.errors import Conflict, InvalidRequest, NotFound
from engine.money import ZERO, Money, amount_text, cny, from_fen, min_money, scale, to_fen, yuan

RATIO_PLACES = Decimal("0.0001")

Band = Literal["surplus", "overspend_shared", "overspend_beyond_corridor"]


# --- periods and visibility ----------------------------------------------------------------------


def require_month_started(year: int, month: int) -> None:
    """A month can be prepaid once it has begun; run after it ends, it sees all its settlements.

    A run is final (it records the month once), so a run made during the month prepays what was
    recorded so far and the rest is settled by the year-end clearing, which counts every entry of
    the year.
    """
    if utcnow() < datetime(year, month, 1, tzinfo=CST):
        raise InvalidRequest(f"{year}-{month:02d} has not begun", code="period_not_started")


def require_year_over(year: int) -> None:
    """Year-end clearing counts every settlement of the year, so the year must be over: a
    settlement recorded after its year was cleared would never be paid."""
    if local_date(utcnow()).year <= year:
        raise InvalidRequest(f"{year} is not over yet", code="year_not_over", field="year")


def require_visible(principal: Principal, admdvs: str | None, missing: NotFound) -> None:
    """Insurers see their own pooling region only; anything else raises ``missing``, the very
    error a thing that does not exist raises, so a key cannot probe which providers of other
    regions have budgets."""
    if not principal.in_region(admdvs):
        raise missing


async def require_provider(
    session: AsyncSession, principal: Principal, admdvs: str, fixmedins_code: str
) -> None:
    """Set-up is for the caller's region, and for a provider registered in that region."""
    principal.require_region(admdvs)
    org = await find_organisation(session, fixmedins_code)
    if (
        org is None
        or org.institution_code != fixmedins_code
        or org.role not in (Role.hospital, Role.pharmacy)
        or org.admdvs != admdvs
    ):
        raise InvalidRequest(
            "no such designated institution in this region",
            code="unknown_institution",
            field="fixmedins_code",
        )


# --- quality withholding -------------------------------------------------------------------------


def check_quality_terms(body: QualityTermsIn) -> None:
    """The score that releases the whole withheld pool is above the one that releases none:
    between them the release is linear, and with no gap it is not a rule."""
    if body.quality_zero_score >= body.quality_full_score:
        raise InvalidRequest(
            "quality_zero_score must be below quality_full_score",
            code="invalid_quality_scores",
            field="quality_zero_score",
        )


def _fraction(amount: Money, numerator: Decimal, denominator: Decimal) -> Money:
    """``amount × numerator ÷ denominator``, half-up to the fen.

    Multiplying before dividing keeps the product exact; the quotient is then either exact or a
    non-terminating decimal, which cannot sit on a half-fen tie, so the one rounding is right.
    """
    return scale(amount.amount * numerator / denominator, 1)


@dataclass(frozen=True, slots=True)
class QualityRule:
    """Withholding on prepayments and its release by the year's quality score q (section 7):
    q ≥ full releases all of it, q < zero none, and in between the share (q − zero)/(full − zero)
    (demo: 90 and 60, so q = 75 releases half)."""

    withhold_ratio: Decimal
    full: Decimal
    zero: Decimal

    @classmethod
    def of(cls, row: QualityTerms) -> QualityRule:
        return cls(row.withhold_ratio, row.quality_full_score, row.quality_zero_score)

    def split(self, gross: Money) -> tuple[Money, Money]:
        """(prepaid, withheld): prepaid = gross × (1 − w) half-up, and withheld the rest, so the
        two always add up to the gross amount."""
        prepaid = scale(gross, 1 - self.withhold_ratio)
        return prepaid, gross - prepaid

    def share(self, q: Decimal) -> tuple[Decimal, Decimal]:
        """The released share as an exact fraction (numerator, denominator)."""
        if q >= self.full:
            return Decimal(1), Decimal(1)
        if q < self.zero:
            return Decimal(0), Decimal(1)
        return q - self.zero, self.full - self.zero

    def scaled(self, amount: Money, q: Decimal, factor: Decimal = Decimal(1)) -> Money:
        """``amount × factor × share(q)``, one rounding."""
        numerator, denominator = self.share(q)
        return _fraction(amount, factor * numerator, denominator)

    def release(self, withheld: Money, q: Decimal) -> tuple[Money, Money]:
        """(released, forfeited) of the withheld pool."""
        released = self.scaled(withheld, q)
        return released, withheld - released


# --- the ledger, shared by the three methods -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    """One provider's account under one scheme: the key of its ledger entries."""

    scheme: SchemeKind
    scheme_id: uuid.UUID
    fixmedins_code: str
    admdvs: str
    year: int

    def values(
        self, period: int, kind: str, amount: Money, detail: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "scheme_id": self.scheme_id,
            "fixmedins_code": self.fixmedins_code,
            "admdvs": self.admdvs,
            "year": self.year,
            "period": period,
            "kind": kind,
            "amount": to_fen(amount),
            "detail": detail,
            "occurred_at": utcnow(),
        }


def entry_out(entry: FundingLedgerEntry) -> LedgerEntryOut:
    return LedgerEntryOut(
        scheme=entry.scheme,
        scheme_id=str(entry.scheme_id),
        fixmedins_code=entry.fixmedins_code,
        year=entry.year,
        period=entry.period,
        kind=entry.kind,
        amount=yuan(entry.amount),
        occurred_at=entry.occurred_at,
        detail=entry.detail,
    )


def balance_of(sums: dict[str, int]) -> Balance:
    """Ledger sums by kind → balance = paid out + still withheld (FundingLedgerEntry signs)."""
    paid = sums.get("prepaid", 0) + sums.get("clearing", 0)
    pending = sums.get("withheld", 0) + sums.get("released", 0) + sums.get("forfeited", 0)
    return Balance(
        balance=yuan(paid + pending), paid_out=yuan(paid), withheld_pending=yuan(pending)
    )


def add_balances(*balances: Balance) -> Balance:
    return Balance(
        balance=sum((b.balance for b in balances), Decimal("0.00")),
        paid_out=sum((b.paid_out for b in balances), Decimal("0.00")),
        withheld_pending=sum((b.withheld_pending for b in balances), Decimal("0.00")),
    )


def sums_of(entries: Sequence[FundingLedgerEntry]) -> dict[str, int]:
    sums: dict[str, int] = {}
    for entry in entries:
        sums[entry.kind] = sums.get(entry.kind, 0) + entry.amount
    return sums


async def post_month(
    session: AsyncSession,
    principal: Principal,
    account: Account,
    month: int,
    gross: Money,
    rule: QualityRule,
    basis: dict[str, str],
) -> PrepaymentOut:
    """Pay an account's month once: the first run writes ``prepaid`` and ``withheld`` (the
    ``gross``, never negative, split by the withholding rule); every later or concurrent run finds
    them and answers with what was paid, paying nothing."""
    prepaid, withheld = rule.split(gross)
    detail: dict[str, object] = dict(basis)
    if await repo.insert_ledger_entry(session, account.values(month, "prepaid", prepaid, detail)):
        await repo.insert_ledger_entry(session, account.values(month, "withheld", withheld, detail))
        payload = {
            "scheme": account.scheme,
            "fixmedins_code": account.fixmedins_code,
            "year": account.year,
            "month": month,
            "prepaid": amount_text(prepaid),
            "withheld": amount_text(withheld),
        }
        await audit.record(
            session,
            actor=principal,
            action=f"{account.scheme}.month_prepaid",
            object_type=account.scheme,
            object_id=str(account.scheme_id),
            payload=payload,
        )
        outbox.emit(session, "funding.prepaid", account.fixmedins_code, {**payload, **basis})
    entries = await repo.ledger_entries(
        session, account.scheme_id, fixmedins_code=account.fixmedins_code, period=month
    )
    sums = sums_of(entries)
    return PrepaymentOut(
        scheme=account.scheme,
        scheme_id=str(account.scheme_id),
        fixmedins_code=account.fixmedins_code,
        year=account.year,
        month=month,
        gross=yuan(sums["prepaid"] + sums["withheld"]),
        prepaid=yuan(sums["prepaid"]),
        withheld=yuan(sums["withheld"]),
        basis={k: str(v) for k, v in entries[0].detail.items()},
    )


async def stored_clearing(
    session: AsyncSession, account: Account, quality_score: Decimal
) -> ClearingOut:
    """A cleared account's clearing, replayed; another quality score is a conflict, not a
    second clearing."""
    entries = await repo.ledger_entries(
        session, account.scheme_id, fixmedins_code=account.fixmedins_code, period=YEAR_END_PERIOD
    )
    stored = ClearingOut.model_validate(
        next(e.detail for e in entries if e.kind == "clearing")["clearing"]
    )
    if stored.quality_score != quality_score:
        raise Conflict(
            f"{account.fixmedins_code} was cleared for {account.year} with quality score "
            f"{stored.quality_score}",
            code="already_cleared",
            field="quality_scores",
        )
    return stored


async def post_year_end(
    session: AsyncSession,
    principal: Principal,
    account: Account,
    rule: QualityRule,
    quality_score: Decimal,
    entitlement: Money,
    figures: dict[str, object],
) -> ClearingOut:
    """Close an account: release or forfeit its withheld pool by the quality score and pay the
    final clearing = entitlement − forfeited − prepaid. The caller holds the scheme's row lock
    and has checked it is not cleared; the ledger's unique key backs that up."""
    sums = await repo.ledger_sums(session, account.scheme_id, account.fixmedins_code)
    prepaid, withheld = from_fen(sums.get("prepaid", 0)), from_fen(sums.get("withheld", 0))
    released, forfeited = rule.release(withheld, quality_score)
    final = entitlement - forfeited - prepaid
    out = ClearingOut.model_validate(
        {
            "scheme": account.scheme,
            "scheme_id": str(account.scheme_id),
            "fixmedins_code": account.fixmedins_code,
            "year": account.year,
            "quality_score": quality_score,
            "entitlement": entitlement.amount,
            "prepaid": prepaid.amount,
            "withheld": withheld.amount,
            "released": released.amount,
            "forfeited": forfeited.amount,
            "final_clearing": final.amount,
            "paid_out": (prepaid + final).amount,
            **figures,
        }
    )
    stored = out.model_dump(mode="json")
    for kind, amount, detail in (
        ("released", -released, {"withheld": amount_text(withheld)}),
        ("forfeited", -forfeited, {"withheld": amount_text(withheld)}),
        ("clearing", final, {"clearing": stored}),
    ):
        if not await repo.insert_ledger_entry(
            session, account.values(YEAR_END_PERIOD, kind, amount, detail)
        ):
            raise Conflict("the year is already cleared", code="already_cleared")
    await audit.record(
        session,
        actor=principal,
        action=f"{account.scheme}.year_cleared",
        object_type=account.scheme,
        object_id=str(account.scheme_id),
        payload=stored,
    )
    outbox.emit(session, "funding.cleared", account.fixmedins_code, stored)
    return out


# --- global budget rules -------------------------------------------------------------------------


def twelfth(amount: Money) -> Money:
    """B/12 half-up to the fen (the division of a fen amount by 12 is exact or non-terminating,
    so it never rounds a tie the wrong way)."""
    return scale(amount.amount / 12, 1)


@dataclass(frozen=True, slots=True)
class BudgetTerms:
    budget: Money
    surplus_retention_ratio: Decimal
    surplus_retention_cap_ratio: Decimal
    overspend_share_ratio: Decimal
    overspend_corridor_ratio: Decimal

    @classmethod
    def of(cls, row: GlobalBudget) -> BudgetTerms:
        return cls(
            from_fen(row.budget_amt),
            row.surplus_retention_ratio,
            row.surplus_retention_cap_ratio,
            row.overspend_share_ratio,
            row.overspend_corridor_ratio,
        )

    def month_gross(self, month_share: Money) -> Money:
        """min(month's fund share, B/12), never below zero (a month of net revocations prepays
        nothing; the year-end clearing settles it)."""
        gross = min_money(month_share, twelfth(self.budget))
        return gross if gross.amount > 0 else ZERO

    def entitlement(self, fund_share: Money) -> tuple[Band, Money, BudgetFigures]:
        """What the year's fund share A earns under the three bands of section 7."""
        b, a = self.budget, fund_share
        retained = shared = unpaid = ZERO
        band: Band
        if a <= b:
            band = "surplus"
            retained = min_money(
                scale(b - a, self.surplus_retention_ratio),
                scale(b, self.surplus_retention_cap_ratio),
            )
            entitlement = a + retained
        else:
            top = scale(b, self.overspend_corridor_ratio)
            band = "overspend_shared" if a <= top else "overspend_beyond_corridor"
            shared = scale(min_money(a, top) - b, self.overspend_share_ratio)
            unpaid = a - b - shared
            entitlement = b + shared
        figures = BudgetFigures(
            budget_amt=b.amount,
            fund_share=a.amount,
            band=band,
            retained_surplus=retained.amount,
            shared_overspend=shared.amount,
            unpaid_overspend=unpaid.amount,
        )
        return band, entitlement, figures


def budget_account(row: GlobalBudget) -> Account:
    return Account("global_budget", row.id, row.fixmedins_code, row.admdvs, row.year)


_PART_FIGURES = ("fund_share", "gross", "prepaid", "withheld")


@dataclass(frozen=True, slots=True)
class Part:
    """A global budget's prepayment of a month, or one ``clr_type``'s part of it: the fund share
    it was computed on and the gross, prepaid and withheld amounts."""

    fund_share: Money
    gross: Money
    prepaid: Money
    withheld: Money

    def basis(self, clr_type: str) -> dict[str, str]:
        """The part as ledger detail: ``gross_11``, ``prepaid_11`` ... (strings, like every
        figure of the ledger)."""
        return {f"{name}_{clr_type}": amount_text(getattr(self, name)) for name in _PART_FIGURES}

    @classmethod
    def of(cls, basis: dict[str, Any], clr_type: str) -> Part | None:
        """The clr_type's part as a prepayment's ledger detail records it; None if the month had
        no fund share of that clr_type when it was prepaid."""
        if f"gross_{clr_type}" not in basis:
            return None
        return cls(*(cny(basis[f"{name}_{clr_type}"]) for name in _PART_FIGURES))


def apportion(gross: Money, rule: QualityRule, shares: dict[str, Money]) -> dict[str, Part]:
    """Split a month's gross among the clr_types of its fund share, so that each clearing batch
    (3203, one per clr_type) pays its part and the parts add up to the month exactly.

    The budget caps the provider's whole month (B/12), not each clr_type, so the gross is shared
    in proportion to each clr_type's positive fund share, in whole fen by largest remainder (ties
    to the lower clr_type). Each part then withholds what the running total of gross up to it
    withholds, less what the parts before it did: the withheld parts add up to the month's
    withholding, and every part is rounded by the same half-up rule. Every fund-share entry
    belongs to a settlement, so the gross (at most the month's fund share) is never more than the
    positive shares it is spread over.
    """
    order = sorted(shares)
    weights = {t: max(to_fen(shares[t]), 0) for t in order}
    total, fen = sum(weights.values()), to_fen(gross)
    quotas = {t: divmod(fen * w, total) if total else (0, 0) for t, w in weights.items()}
    parts_fen = {t: q for t, (q, _) in quotas.items()}
    short = fen - sum(parts_fen.values()) if total else 0
    for t in sorted(order, key=lambda t: -quotas[t][1])[:short]:
        parts_fen[t] += 1
    parts: dict[str, Part] = {}
    running = withheld_before = 0
    for t in order:
        running += parts_fen[t]
        withheld_to = to_fen(rule.split(from_fen(running))[1])
        part_gross, part_withheld = from_fen(parts_fen[t]), from_fen(withheld_to - withheld_before)
        parts[t] = Part(shares[t], part_gross, part_gross - part_withheld, part_withheld)
        withheld_before = withheld_to
    return parts


# --- global budget service -----------------------------------------------------------------------


async def create_budget(
    session: AsyncSession, principal: Principal, body: BudgetIn
) -> GlobalBudget:
    await require_provider(session, principal, body.admdvs, body.fixmedins_code)
    check_quality_terms(body)
    if await repo.budget(session, body.fixmedins_code, body.year) is not None:
        raise Conflict(
            f"{body.fixmedins_code} already has a budget for {body.year}",
            code="budget_exists",
            field="fixmedins_code",
        )
    row = GlobalBudget(
        **body.model_dump(exclude={"budget_amt"}), budget_amt=to_fen(cny(body.budget_amt))
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor=principal,
        action="global_budget.created",
        object_type="global_budget",
        object_id=str(row.id),
        payload=body.model_dump(mode="json"),
        new_stream=True,
    )
    return row


async def _cleared_before_prepaid(session: AsyncSession, row: GlobalBudget, month: int) -> bool:
    return row.cleared_at is not None and not await repo.ledger_entries(
        session, row.id, period=month
    )


async def prepay_budget_month(
    session: AsyncSession, principal: Principal, row: GlobalBudget, month: int
) -> PrepaymentOut:
    """The month's prepayment of one budget; the caller holds the budget's row lock."""
    account = budget_account(row)
    if await _cleared_before_prepaid(session, row, month):
        raise Conflict(f"{row.year} is cleared for {row.fixmedins_code}", code="year_cleared")
    terms, rule = BudgetTerms.of(row), QualityRule.of(row)
    share = from_fen(
        (await repo.case_totals(session, "fund_share", row.fixmedins_code, row.year, month)).amount
    )
    gross = terms.month_gross(share)
    basis = {"fund_share": amount_text(share), "monthly_cap": amount_text(twelfth(terms.budget))}
    by_clr_type = await repo.fund_share_by_clr_type(session, row.fixmedins_code, row.year, month)
    parts = apportion(gross, rule, {t: from_fen(fen) for t, fen in by_clr_type.items()})
    for clr_type, part in parts.items():
        basis |= part.basis(clr_type)
    return await post_month(session, principal, account, month, gross, rule, basis)


async def month_prepayment(
    session: AsyncSession, principal: Principal, row: GlobalBudget, month: int
) -> PrepaymentOut | None:
    """The month's prepayment as the ledger records it, made first (once, as the month run makes
    it) if the month has not been prepaid yet; the caller holds the budget's row lock.

    None when the year was cleared before the month was ever prepaid: the year-end clearing
    counted the whole year's fund share, so nothing of the month is left to prepay.
    """
    if await _cleared_before_prepaid(session, row, month):
        return None
    return await prepay_budget_month(session, principal, row, month)


async def clear_budget(
    session: AsyncSession, principal: Principal, row: GlobalBudget, quality_score: Decimal
) -> ClearingOut:
    """Year-end clearing of one budget; the caller holds the budget's row lock."""
    account = budget_account(row)
    if row.cleared_at is not None:
        return await stored_clearing(session, account, quality_score)
    share = await repo.case_totals(session, "fund_share", row.fixmedins_code, row.year)
    _, entitlement, figures = BudgetTerms.of(row).entitlement(from_fen(share.amount))
    out = await post_year_end(
        session,
        principal,
        account,
        QualityRule.of(row),
        quality_score,
        entitlement,
        {"budget": figures.model_dump()},
    )
    row.quality_score, row.cleared_at = quality_score, utcnow()
    await session.flush()
    return out


def burn_ratio(fund_share: int, budget_amt: int) -> Decimal:
    """Fund share ÷ budget to four places, half-up (a display figure, not money)."""
    if budget_amt == 0:
        return Decimal(0)
    return (Decimal(fund_share) / Decimal(budget_amt)).quantize(RATIO_PLACES, ROUND_HALF_UP)


async def budget_view(
    session: AsyncSession, principal: Principal, fixmedins_code: str, year: int
) -> BudgetOut:
    row = await repo.budget(session, fixmedins_code, year)
    missing = NotFound("no such budget", code="not_found")
    if row is None:
        raise missing
    require_visible(principal, row.admdvs, missing)
    shares = await repo.case_totals_by_month(session, "fund_share", fixmedins_code, year)
    entries = list(await repo.ledger_entries(session, row.id))
    paid = {(e.period, e.kind): e.amount for e in entries}
    months = [
        BudgetMonthOut(
            month=m,
            fund_share=yuan(shares[m].amount) if m in shares else Decimal("0.00"),
            prepaid=yuan(paid[(m, "prepaid")]) if (m, "prepaid") in paid else None,
            withheld=yuan(paid[(m, "withheld")]) if (m, "withheld") in paid else None,
        )
        for m in range(1, 13)
        if m in shares or (m, "prepaid") in paid
    ]
    total_share = sum(s.amount for s in shares.values())
    return BudgetOut(
        id=str(row.id),
        admdvs=row.admdvs,
        fixmedins_code=row.fixmedins_code,
        year=row.year,
        budget_amt=yuan(row.budget_amt),
        withhold_ratio=row.withhold_ratio,
        quality_full_score=row.quality_full_score,
        quality_zero_score=row.quality_zero_score,
        surplus_retention_ratio=row.surplus_retention_ratio,
        surplus_retention_cap_ratio=row.surplus_retention_cap_ratio,
        overspend_share_ratio=row.overspend_share_ratio,
        overspend_corridor_ratio=row.overspend_corridor_ratio,
        quality_score=row.quality_score,
        cleared_at=row.cleared_at,
        fund_share=yuan(total_share),
        burn_ratio=burn_ratio(total_share, row.budget_amt),
        months=months,
        ledger=[entry_out(e) for e in entries],
        totals=balance_of(sums_of(entries)),
    )
