"""Tables of cross-region settlement: filings (备案). Dates are calendar days in China Standard
Time; ids are random (``claims.visits.new_id``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
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
