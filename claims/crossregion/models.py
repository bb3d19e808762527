"""Tables of cross-region settlement: filings (备案) and inter-region claims (跨区清算). Dates are
calendar days in China Standard Time; ids are random (``claims.visits.new_id``); amounts are
integer fen."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, utcnow

#: The filing types of docs/domain.md section 15, as the wire names them.
FILING_TYPES = ("long_term_residence", "referral", "temporary_travel")


class CrossRegionFiling(Base):
    """A person of ``insuplc_admdvs`` on file for care in ``mdtrtarea_admvs`` from ``begndate``
    to ``enddate`` (open-ended when None). A revoked filing never applied; an ended one applied
    until its ``enddate``."""

    __tablename__ = "cross_region_filing"
    __table_args__ = (
        CheckConstraint(
            "filing_type IN ('long_term_residence', 'referral', 'temporary_travel')",
            name="filing_type",
        ),
        CheckConstraint("status IN ('active', 'revoked')", name="status"),
        CheckConstraint("enddate IS NULL OR enddate >= begndate", name="period"),
        CheckConstraint("insuplc_admdvs <> mdtrtarea_admvs", name="other_region"),
        Index("ix_cross_region_filing_person", "psn_no", "mdtrtarea_admvs"),
        Index("ix_cross_region_filing_treatment", "mdtrtarea_admvs", "begndate"),
    )

    #: 待遇申报明细流水号, the filing's serial number.
    trt_dcla_detl_sn: Mapped[str] = mapped_column(String(30), primary_key=True)
    psn_no: Mapped[str] = mapped_column(ForeignKey("person.psn_no"))
    insuplc_admdvs: Mapped[str] = mapped_column(String(6), index=True)
    mdtrtarea_admvs: Mapped[str] = mapped_column(String(6))
    filing_type: Mapped[str] = mapped_column(String(20))
    begndate: Mapped[date]
    enddate: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(10), default="active")
    revoked_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InterRegionClaim(Base):
    """The treatment place's monthly claim on the insured place (跨区清算): the fund share of every
    cross-region settlement of ``setlym`` by ``mdtrtarea_admvs``'s institutions for
    ``insuplc_admdvs``'s insured. Frozen when made: its lines and totals never change, and a
    revocation after it is carried into the pair's next claim as an adjustment."""

    __tablename__ = "interregion_claim"
    __table_args__ = (UniqueConstraint("mdtrtarea_admvs", "insuplc_admdvs", "setlym"),)

    claim_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    mdtrtarea_admvs: Mapped[str] = mapped_column(String(6))
    insuplc_admdvs: Mapped[str] = mapped_column(String(6), index=True)
    setlym: Mapped[str] = mapped_column(String(6))
    frozen_at: Mapped[datetime]
    setl_cnt: Mapped[int] = mapped_column(Integer)
    adjustment_cnt: Mapped[int] = mapped_column(Integer)
    medfee_sumamt: Mapped[int] = mapped_column(BigInteger)
    #: The month's fund share plus the (negative) adjustments: what the insured place owes.
    fund_pay_sumamt: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[uuid.UUID]


class InterRegionClaimLine(Base):
    """One settlement in a claim (``kind`` settlement), or the revocation of a settlement of an
    earlier claim carried into this one (``kind`` adjustment, amounts negated). A settlement is
    claimed once and adjusted once: the key says so."""

    __tablename__ = "interregion_claim_line"
    __table_args__ = (CheckConstraint("kind IN ('settlement', 'adjustment')", name="kind"),)

    setl_id: Mapped[str] = mapped_column(ForeignKey("settlement.setl_id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("interregion_claim.claim_id"), index=True)
    mdtrt_id: Mapped[str] = mapped_column(String(30))
    psn_no: Mapped[str] = mapped_column(String(30))
    fixmedins_code: Mapped[str] = mapped_column(String(30))
    filing_type: Mapped[str] = mapped_column(String(20))
    setl_time: Mapped[datetime]
    medfee_sumamt: Mapped[int] = mapped_column(BigInteger)
    fund_pay_sumamt: Mapped[int] = mapped_column(BigInteger)
