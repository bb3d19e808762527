"""Per-capita bundles (按人头打包付费, docs/domain.md section 8).

A primary institution (the holder) holds a bundle for the residents signed to it (家庭医生签约):
the fund pays it ``rate_per_member_month`` for every member-month, monthly, less the quality
withholding. A member counts for every calendar month in which they were signed for at least one
day. The basic pooled fund's share of a member's care (``hifp_pay``) is charged to the bundle: care
at the holder is paid out of the bundle instead of fee-for-item, and care elsewhere is paid to the
other provider and deducted from the holder's bundle. The member's own payments are whatever the
settlement computed; the bundle only moves money between the fund and the providers.

At year end, with capitation = member-months × rate and care = at the holder + elsewhere:

* surplus (capitation ≥ care): the holder keeps its own care plus the retained surplus,
  ``surplus_retention_ratio`` × surplus × the quality share (结余留用, scaled by quality);
* overspend: the holder gets capitation − care elsewhere, never below zero: the fund does not top
  up the bundle (超支不补).

The withheld capitation is released by the same quality rule as a global budget's.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from claims.funding import repository as repo
from claims.funding.budgets import (
    Account,
    QualityRule,
    balance_of,
    check_quality_terms,
    entry_out,
    post_month,
    post_year_end,
    require_provider,
    require_visible,
    stored_clearing,
    sums_of,
    yuan,
)
from claims.funding.models import Bundle, BundleMember
from claims.funding.schemas import (
    BundleFigures,
    BundleIn,
    BundleMonthOut,
    BundleOut,
    ClearingOut,
    MembersIn,
    MembersOut,
    PrepaymentOut,
)
from claims.settlement.door import reads as settlement
from engine import audit
from engine.auth import Principal
from engine.clock import local_date, month_bounds
from engine.db import utcnow
from engine.errors import Conflict, InvalidRequest, NotFound
from engine.money import ZERO, Money, cny, from_fen, to_fen


def bundle_account(row: Bundle) -> Account:
    return Account("bundle", row.id, row.fixmedins_code, row.admdvs, row.year)


async def create_bundle(session: AsyncSession, principal: Principal, body: BundleIn) -> Bundle:
    await require_provider(session, principal, body.admdvs, body.fixmedins_code)
    check_quality_terms(body)
    if await repo.bundle(session, body.fixmedins_code, body.year) is not None:
        raise Conflict(
            f"{body.fixmedins_code} already holds a bundle for {body.year}",
            code="bundle_exists",
            field="fixmedins_code",
        )
    row = Bundle(
        **body.model_dump(exclude={"rate_per_member_month"}),
        rate_per_member_month=to_fen(cny(body.rate_per_member_month)),
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor=principal,
        action="bundle.created",
        object_type="bundle",
        object_id=str(row.id),
        payload=body.model_dump(mode="json"),
        new_stream=True,
    )
    return row


async def visible_bundle(
    session: AsyncSession, principal: Principal, fixmedins_code: str, year: int, *, lock: bool
) -> Bundle:
    row = await repo.bundle(session, fixmedins_code, year, lock=lock)
    missing = NotFound("no such bundle", code="not_found")
    if row is None:
        raise missing
    require_visible(principal, row.admdvs, missing)
    return row


async def sign_members(
    session: AsyncSession, principal: Principal, fixmedins_code: str, year: int, body: MembersIn
) -> MembersOut:
    """Sign people to the bundle, or set the end date of an existing signing (same person and
    sign-up date). A person is signed to at most one bundle of the region on any day, and only
    someone insured in the region is signed: capitation is paid from the region's fund. A person
    insured elsewhere is refused exactly as an unknown psn_no is."""
    row = await visible_bundle(session, principal, fixmedins_code, year, lock=True)
    if row.cleared_at is not None:
        raise Conflict(f"the bundle's {year} is cleared", code="year_cleared")
    first, last = date(year, 1, 1), date(year, 12, 31)
    insured = await settlement.insured_in(session, [m.psn_no for m in body.members], row.admdvs)
    signed = updated = 0
    for i, member in enumerate(body.members):
        if member.psn_no not in insured:
            raise InvalidRequest(
                "no such insured person in the bundle's region",
                code="unknown_person",
                field=f"members.{i}.psn_no",
            )
        end = member.end_date or last
        if member.end_date is not None and member.end_date < member.sign_date:
            raise InvalidRequest(
                "the end date is before the sign-up date", field=f"members.{i}.end_date"
            )
        if member.sign_date > last or end < first:
            raise InvalidRequest(
                f"the signing does not overlap {year}", field=f"members.{i}.sign_date"
            )
        existing = await repo.signing(session, row.id, member.psn_no, member.sign_date)
        clash = await repo.overlapping_signing(
            session,
            psn_no=member.psn_no,
            admdvs=row.admdvs,
            year=year,
            start=member.sign_date,
            end=end,
            other_than=existing.id if existing else None,
        )
        if clash is not None:
            raise Conflict(
                f"{member.psn_no} is already signed to a bundle from {clash.sign_date}",
                code="already_signed",
                field=f"members.{i}.psn_no",
            )
        if existing is None:
            session.add(
                BundleMember(
                    bundle_id=row.id,
                    psn_no=member.psn_no,
                    sign_date=member.sign_date,
                    end_date=member.end_date,
                )
            )
            signed += 1
        else:
            existing.end_date = member.end_date
            updated += 1
        await session.flush()
    await audit.record(
        session,
        actor=principal,
        action="bundle.members_signed",
        object_type="bundle",
        object_id=str(row.id),
        payload=body.model_dump(mode="json"),
    )
    return MembersOut(fixmedins_code=fixmedins_code, year=year, signed=signed, updated=updated)


async def members_in_month(session: AsyncSession, row: Bundle, month: int) -> int:
    """Members signed to the bundle on at least one day of the month."""
    begin, end = month_bounds(row.year, month)
    return await repo.member_count(session, row.id, begin.date(), end.date() - timedelta(days=1))


async def prepay_month(
    session: AsyncSession, principal: Principal, row: Bundle, month: int
) -> PrepaymentOut:
    """The month's capitation, members × rate, less withholding; the caller holds the bundle's
    row lock."""
    if row.cleared_at is not None and not await repo.ledger_entries(session, row.id, period=month):
        raise Conflict(f"the bundle's {row.year} is cleared", code="year_cleared")
    members = await members_in_month(session, row, month)
    basis = {"members": str(members), "rate_per_member_month": str(yuan(row.rate_per_member_month))}
    gross = from_fen(members * row.rate_per_member_month)
    return await post_month(
        session, principal, bundle_account(row), month, gross, QualityRule.of(row), basis
    )


def year_entitlement(
    rule: QualityRule,
    retention_ratio: Decimal,
    quality_score: Decimal,
    *,
    capitation: Money,
    care_at_holder: Money,
    care_elsewhere: Money,
) -> tuple[Money, Money]:
    """(entitlement, retained surplus) of the holder for the year (module docstring)."""
    surplus = capitation - care_at_holder - care_elsewhere
    if surplus.amount >= 0:
        retained = rule.scaled(surplus, quality_score, retention_ratio)
        return care_at_holder + retained, retained
    remaining = capitation - care_elsewhere
    return (remaining if remaining.amount > 0 else ZERO), ZERO


async def clear_bundle(
    session: AsyncSession, principal: Principal, row: Bundle, quality_score: Decimal
) -> ClearingOut:
    """Year-end clearing of one bundle; the caller holds the bundle's row lock."""
    account = bundle_account(row)
    if row.cleared_at is not None:
        return await stored_clearing(session, account, quality_score)
    member_months = 0
    for month in range(1, 13):
        member_months += await members_in_month(session, row, month)
    capitation = from_fen(member_months * row.rate_per_member_month)
    care = await repo.case_totals(session, "bundle_care", row.fixmedins_code, row.year)
    at_holder, elsewhere = from_fen(care.at_holder), from_fen(care.amount - care.at_holder)
    rule = QualityRule.of(row)
    entitlement, retained = year_entitlement(
        rule,
        row.surplus_retention_ratio,
        quality_score,
        capitation=capitation,
        care_at_holder=at_holder,
        care_elsewhere=elsewhere,
    )
    figures = BundleFigures(
        capitation=capitation.amount,
        member_months=member_months,
        care_at_holder=at_holder.amount,
        care_elsewhere=elsewhere.amount,
        surplus=(capitation - at_holder - elsewhere).amount,
        retained_surplus=retained.amount,
    )
    out = await post_year_end(
        session,
        principal,
        account,
        rule,
        quality_score,
        entitlement,
        {"bundle": figures.model_dump()},
    )
    row.quality_score, row.cleared_at = quality_score, utcnow()
    await session.flush()
    return out


async def bundle_view(
    session: AsyncSession, principal: Principal, fixmedins_code: str, year: int
) -> BundleOut:
    row = await visible_bundle(session, principal, fixmedins_code, year, lock=False)
    care = await repo.case_totals_by_month(session, "bundle_care", fixmedins_code, year)
    entries = list(await repo.ledger_entries(session, row.id))
    paid = {(e.period, e.kind): e.amount for e in entries}
    today = local_date(utcnow())
    months: list[BundleMonthOut] = []
    for month in range(1, 13):
        if month_bounds(year, month)[0].date() > today and month not in care:
            break
        members = await members_in_month(session, row, month)
        totals = care.get(month, repo.CaseTotals())
        months.append(
            BundleMonthOut(
                month=month,
                members=members,
                capitation=yuan(members * row.rate_per_member_month),
                care_at_holder=yuan(totals.at_holder),
                care_elsewhere=yuan(totals.amount - totals.at_holder),
                prepaid=yuan(paid[(month, "prepaid")]) if (month, "prepaid") in paid else None,
                withheld=yuan(paid[(month, "withheld")]) if (month, "withheld") in paid else None,
            )
        )
    capitation = sum((m.capitation for m in months), Decimal("0.00"))
    at_holder = sum((m.care_at_holder for m in months), Decimal("0.00"))
    elsewhere = sum((m.care_elsewhere for m in months), Decimal("0.00"))
    return BundleOut(
        id=str(row.id),
        admdvs=row.admdvs,
        fixmedins_code=row.fixmedins_code,
        year=row.year,
        rate_per_member_month=yuan(row.rate_per_member_month),
        surplus_retention_ratio=row.surplus_retention_ratio,
        withhold_ratio=row.withhold_ratio,
        quality_full_score=row.quality_full_score,
        quality_zero_score=row.quality_zero_score,
        quality_score=row.quality_score,
        cleared_at=row.cleared_at,
        capitation=capitation,
        care_at_holder=at_holder,
        care_elsewhere=elsewhere,
        bundle_balance=capitation - at_holder - elsewhere,
        months=months,
        ledger=[entry_out(e) for e in entries],
        totals=balance_of(sums_of(entries)),
    )
