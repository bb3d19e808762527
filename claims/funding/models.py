"""Tables of the insurer's payment methods: global budgets, DIP points and per-capita bundles
(docs/domain.md sections 7 and 8).

Every parameter is a column (per region, year and provider), never a constant in code. Money is
integer fen (``BigInteger``), ratios and scores ``Numeric``.

Two append-only journals carry the money:

* :class:`FundingCaseEntry` is written by the settlement hooks (``claims.funding.door``) in the
  settlement's own transaction: one row per account a settlement touches (the provider's fund
  share, its DIP points, or the holder's bundle), and an exact negated row when it is revoked. No
  row is updated per settlement, so a busy hospital's settlements never queue on a shared total
  (STYLE.md, the hot path); the month and year figures are sums over these rows.
* :class:`FundingLedgerEntry` is written by the monthly and year-end runs. Its unique key (scheme,
  provider, period, kind) is what makes a run pay at most once, however often or concurrently it
  is started.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, BigIntPK, UuidPrimaryKey, utcnow

#: Ledger period 13 is the year-end closing period (months are 1–12), as in accounting's
#: thirteenth period: year-end entries share the ledger's unique key with the monthly ones.
YEAR_END_PERIOD = 13


def _quality_checks(*, scored: bool) -> tuple[CheckConstraint, ...]:
    """Checks on :class:`QualityTerms` (new objects per table: a constraint has one table)."""
    checks = (
        CheckConstraint("withhold_ratio >= 0 AND withhold_ratio <= 1", name="withhold_ratio"),
        CheckConstraint(
            "quality_zero_score >= 0 AND quality_zero_score < quality_full_score "
            "AND quality_full_score <= 100",
            name="quality_thresholds",
        ),
    )
    if not scored:
        return checks
    return (
        *checks,
        CheckConstraint(
            "quality_score IS NULL OR (quality_score >= 0 AND quality_score <= 100)",
            name="quality_score",
        ),
    )


class QualityTerms:
    """Quality withholding: a share of each prepayment is held back and released at year end by
    the quality score q — all of it when q ≥ ``quality_full_score``, none when q <
    ``quality_zero_score``, linearly in between (docs/domain.md section 7; demo 5%, 90 and 60)."""

    withhold_ratio: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    quality_full_score: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    quality_zero_score: Mapped[Decimal] = mapped_column(Numeric(5, 2))


class GlobalBudget(QualityTerms, UuidPrimaryKey, Base):
    """A provider's global budget (总额预算) for one year and its year-end terms (section 7)."""

    __tablename__ = "global_budget"
    __table_args__ = (
        UniqueConstraint("fixmedins_code", "year"),
        Index("ix_global_budget_admdvs_year", "admdvs", "year"),
        CheckConstraint("budget_amt >= 0", name="budget_amt"),
        CheckConstraint(
            "surplus_retention_ratio >= 0 AND surplus_retention_ratio <= 1 "
            "AND surplus_retention_cap_ratio >= 0 AND surplus_retention_cap_ratio <= 1 "
            "AND overspend_share_ratio >= 0 AND overspend_share_ratio <= 1 "
            "AND overspend_corridor_ratio >= 1",
            name="ratios",
        ),
        *_quality_checks(scored=True),
    )

    admdvs: Mapped[str] = mapped_column(String(6))
    fixmedins_code: Mapped[str] = mapped_column(String(30))
    year: Mapped[int] = mapped_column(SmallInteger)
    budget_amt: Mapped[int] = mapped_column(BigInteger)
    surplus_retention_ratio: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    surplus_retention_cap_ratio: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    overspend_share_ratio: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    overspend_corridor_ratio: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    quality_score: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    cleared_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DipScheme(QualityTerms, UuidPrimaryKey, Base):
    """A region's DIP (按病种分值付费) year: budget, reserve, provisional point value, deposit
    (``withhold_ratio``) and the med_types paid by points; the year-end point value once cleared."""

    __tablename__ = "dip_scheme"
    __table_args__ = (
        UniqueConstraint("admdvs", "year"),
        CheckConstraint(
            "adjustment_reserve >= 0 AND adjustment_reserve <= regional_budget", name="budget"
        ),
        CheckConstraint("provisional_point_value >= 0", name="provisional_point_value"),
        *_quality_checks(scored=False),
    )

    admdvs: Mapped[str] = mapped_column(String(6))
    year: Mapped[int] = mapped_column(SmallInteger)
    regional_budget: Mapped[int] = mapped_column(BigInteger)
    adjustment_reserve: Mapped[int] = mapped_column(BigInteger)
    provisional_point_value: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    med_types: Mapped[list[str]] = mapped_column(JSON)
    # Set by the year-end clearing: yuan per point, 10 decimals (claims.funding.dip.point_value).
    point_value: Mapped[Decimal | None] = mapped_column(Numeric(24, 10))
    total_points: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    cleared_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DipGroup(UuidPrimaryKey, Base):
    """A disease group (病种) of a scheme and the points one case of it earns."""

    __tablename__ = "dip_group"
    __table_args__ = (
        UniqueConstraint("scheme_id", "dise_grp_code"),
        CheckConstraint("points >= 0", name="points"),
    )

    scheme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dip_scheme.id"))
    dise_grp_code: Mapped[str] = mapped_column(String(30))
    dise_grp_name: Mapped[str] = mapped_column(String(200))
    points: Mapped[Decimal] = mapped_column(Numeric(12, 4))


#: The longest diagnosis code or prefix a DIP scheme maps.
ICD_CODE_LENGTH = 20


class DipGroupCode(Base):
    """Which diagnoses (ICD-10, upper-cased) fall into a group: by code prefix or by exact code.

    The most specific mapping wins: an exact code before any prefix, a longer prefix before a
    shorter one (``claims.funding.door.route_lookup_columns``).
    """

    __tablename__ = "dip_group_code"
    __table_args__ = (
        UniqueConstraint("scheme_id", "icd_code", "match"),
        CheckConstraint("match IN ('prefix', 'exact')", name="match"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    scheme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dip_scheme.id"))
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dip_group.id"), index=True)
    icd_code: Mapped[str] = mapped_column(String(ICD_CODE_LENGTH))
    match: Mapped[str] = mapped_column(String(6))


class Bundle(QualityTerms, UuidPrimaryKey, Base):
    """A per-capita bundle (按人头打包付费, section 8): the holder institution, the rate per
    member-month and the share of a year-end surplus it may retain (scaled by quality)."""

    __tablename__ = "bundle"
    __table_args__ = (
        UniqueConstraint("fixmedins_code", "year"),
        Index("ix_bundle_admdvs_year", "admdvs", "year"),
        CheckConstraint("rate_per_member_month >= 0", name="rate"),
        CheckConstraint(
            "surplus_retention_ratio >= 0 AND surplus_retention_ratio <= 1",
            name="surplus_retention_ratio",
        ),
        *_quality_checks(scored=True),
    )

    admdvs: Mapped[str] = mapped_column(String(6))
    fixmedins_code: Mapped[str] = mapped_column(String(30))
    year: Mapped[int] = mapped_column(SmallInteger)
    rate_per_member_month: Mapped[int] = mapped_column(BigInteger)
    surplus_retention_ratio: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    quality_score: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    cleared_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BundleMember(Base):
    """One signing (家庭医生签约) of a person to a bundle, from ``sign_date`` to ``end_date``
    (inclusive; open-ended while NULL)."""

    __tablename__ = "bundle_member"
    __table_args__ = (
        UniqueConstraint("bundle_id", "psn_no", "sign_date"),
        CheckConstraint("end_date IS NULL OR end_date >= sign_date", name="dates"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    bundle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bundle.id"))
    psn_no: Mapped[str] = mapped_column(String(30), index=True)
    sign_date: Mapped[date]
    end_date: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FundingCaseEntry(Base):
    """What one settlement (or its revocation) adds to a provider's account, append-only.

    ``kind``: ``fund_share`` (the treating provider's basic pooled-fund share, counted against its
    global budget), ``dip_points`` (a DIP case of the treating provider, with its points) or
    ``bundle_care`` (a bundle member's care, charged to the holder's bundle; ``treated_by`` tells
    care at the holder from care elsewhere). A revocation adds one row per original with every
    amount negated and ``reverses_id`` pointing at it, dated (``year``, ``month``) when the
    revocation happened: a period already run is never rewritten, the next one absorbs it.
    """

    __tablename__ = "funding_case_entry"
    __table_args__ = (
        CheckConstraint("kind IN ('fund_share', 'dip_points', 'bundle_care')", name="kind"),
        CheckConstraint("month >= 1 AND month <= 12", name="month"),
        Index("ix_funding_case_entry_account", "kind", "fixmedins_code", "year", "month"),
        Index("ix_funding_case_entry_region", "kind", "admdvs", "year", "month"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    setl_id: Mapped[str] = mapped_column(String(30), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    fixmedins_code: Mapped[str] = mapped_column(String(30))
    treated_by: Mapped[str] = mapped_column(String(30))
    admdvs: Mapped[str] = mapped_column(String(6))
    year: Mapped[int] = mapped_column(SmallInteger)
    month: Mapped[int] = mapped_column(SmallInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    dise_grp_code: Mapped[str | None] = mapped_column(String(30))
    occurred_at: Mapped[datetime]
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("funding_case_entry.id"), unique=True
    )


class FundingLedgerEntry(Base):
    """A payment-side movement of one provider's account under one scheme, append-only.

    Signs (fen): ``prepaid`` ≥ 0 is what the scheme pays for a month (a record, not a transfer:
    a global budget's month is paid by the month's clearing batches, 3203, which take their
    figures from this entry, ``claims.clearing``); ``withheld`` ≥ 0 is held back for the
    provider; at year end ``released`` ≤ 0 and ``forfeited`` ≤ 0 empty that withheld pool (into the
    clearing payment, or back to the fund) and ``clearing`` is the final cash, negative when the
    provider owes money back. So the sum of a provider's entries is what it has been paid plus
    what is still held for it, and after the year-end clearing exactly what it has been paid.
    """

    __tablename__ = "funding_ledger_entry"
    __table_args__ = (
        UniqueConstraint("scheme_id", "fixmedins_code", "period", "kind"),
        CheckConstraint("scheme IN ('global_budget', 'dip', 'bundle')", name="scheme"),
        CheckConstraint(
            "kind IN ('prepaid', 'withheld', 'released', 'forfeited', 'clearing')", name="kind"
        ),
        CheckConstraint(f"period >= 1 AND period <= {YEAR_END_PERIOD}", name="period"),
        CheckConstraint(
            f"(kind IN ('prepaid', 'withheld') AND amount >= 0 AND period < {YEAR_END_PERIOD}) "
            f"OR (kind IN ('released', 'forfeited') AND amount <= 0 "
            f"AND period = {YEAR_END_PERIOD}) "
            f"OR (kind = 'clearing' AND period = {YEAR_END_PERIOD})",
            name="sign",
        ),
        Index("ix_funding_ledger_entry_provider", "fixmedins_code", "year"),
        Index("ix_funding_ledger_entry_region", "admdvs", "year"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    scheme: Mapped[str] = mapped_column(String(16))
    # global_budget.id, dip_scheme.id or bundle.id, as ``scheme`` says.
    scheme_id: Mapped[uuid.UUID]
    fixmedins_code: Mapped[str] = mapped_column(String(30))
    admdvs: Mapped[str] = mapped_column(String(6))
    year: Mapped[int] = mapped_column(SmallInteger)
    period: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(10))
    amount: Mapped[int] = mapped_column(BigInteger)
    # The figures that produced the amount (strings), so every entry explains itself.
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
