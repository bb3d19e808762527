"""Tables of the prescription domain (docs/domain.md section 9).

The prescription row is the one row that guards a prescription's invariants: its status, its lock
(a lease held by one pharmacy) and how many times it was dispensed. Every transition locks it
(``SELECT ... FOR UPDATE`` or a conditional ``UPDATE``), so transitions of one prescription queue
and those of different prescriptions never touch a shared row. The signed document is stored
exactly as the doctor signed it; the typed columns are copies of its values, for queries, and are
checked against it whenever the prescription is verified (prescriptions.documents).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UuidPrimaryKey, utcnow

#: Internal states and their national ``rx_stas_codg`` (docs/domain.md section 2).
STATUSES = ("pending_review", "circulating", "dispensed", "expired", "revoked", "voided")


class Prescription(Base):
    """An uploaded prescription: the signed document, its review, routing, lock and counters."""

    __tablename__ = "prescription"
    __table_args__ = (
        UniqueConstraint("fixmedins_code", "hosp_rxno"),
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")", name="status"),
        CheckConstraint(
            "dspe_cnt >= 0 AND dspe_cnt <= max_rept_cnt AND max_rept_cnt >= 1"
            " AND min_inrv_days >= 0",
            name="dispense_count",
        ),
        CheckConstraint("(lock_holder IS NULL) = (lock_expires_at IS NULL)", name="lock_has_lease"),
        CheckConstraint("trace_code_failures >= 0", name="trace_code_failures"),
        # The expiry job's scan: undispensed prescriptions that may still lapse.
        Index("ix_prescription_due", "status", "vali_end_time"),
    )

    hi_rxno: Mapped[str] = mapped_column(String(30), primary_key=True)
    trace_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Copies of signed values (checked against ``document`` on every verification).
    hosp_rxno: Mapped[str] = mapped_column(String(40))
    fixmedins_code: Mapped[str] = mapped_column(String(30))
    mdtrt_id: Mapped[str] = mapped_column(String(30))
    psn_no: Mapped[str] = mapped_column(String(30))
    dr_code: Mapped[str] = mapped_column(String(30))
    prsc_time: Mapped[datetime]
    vali_end_time: Mapped[datetime]
    max_rept_cnt: Mapped[int] = mapped_column(Integer)
    min_inrv_days: Mapped[int] = mapped_column(Integer)
    # From the visit record, not the document: the channel and region the rules were applied to.
    biz_type_code: Mapped[str] = mapped_column(String(2))
    admdvs: Mapped[str] = mapped_column(String(6))
    # The covered document exactly as signed (signing.signed_content) and the signature envelope.
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    signature: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The pharmacy the patient nominated; NULL: open (any designated pharmacy of the region).
    nominated_code: Mapped[str | None] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="pending_review")
    rvw_opnn: Mapped[str | None] = mapped_column(String(500))
    phar_code: Mapped[str | None] = mapped_column(String(30))
    phar_name: Mapped[str | None] = mapped_column(String(50))
    reviewed_at: Mapped[datetime | None]
    revoke_reason: Mapped[str | None] = mapped_column(String(500))
    dspe_cnt: Mapped[int] = mapped_column(Integer, default=0)
    lock_holder: Mapped[str | None] = mapped_column(String(30))
    # Indexed for the job that clears lapsed leases (NULL for most rows).
    lock_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    # Wrong certificates presented with the current trace code, and when that locked it (NULL:
    # open); a reissued trace code starts again from none (prescriptions.presentation).
    trace_code_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    trace_code_locked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PresentationThrottle(Base):
    """Presentations counted in a fixed window, per key (a pharmacy, or a trace code's keyed
    hash whether or not any prescription has it): one row per key, counted by one upsert, so
    every API process shares the count and concurrent presentations queue on the row."""

    __tablename__ = "presentation_throttle"
    __table_args__ = (CheckConstraint("attempts >= 1", name="attempts"),)

    throttle_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer)


class PrescriptionAccess(Base):
    """A pharmacy that may see a prescription: the nominated one (routed on approval) or one the
    patient presented it to with the trace code and their certificate (docs/domain.md section 9: "a
    pharmacy cannot list or guess prescriptions that were not routed or presented to it")."""

    __tablename__ = "prescription_access"
    __table_args__ = (
        CheckConstraint("via IN ('routed', 'presented')", name="via"),
        Index("ix_prescription_access_pharmacy", "fixmedins_code", "granted_at"),
    )

    hi_rxno: Mapped[str] = mapped_column(ForeignKey("prescription.hi_rxno"), primary_key=True)
    fixmedins_code: Mapped[str] = mapped_column(String(30), primary_key=True)
    via: Mapped[str] = mapped_column(String(10))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class Dispense(UuidPrimaryKey, Base):
    """One dispensing (a portion of a repeat prescription), settled as a med_type 41 visit at the
    pharmacy. ``(hi_rxno, dspe_seq)`` is unique: a portion cannot be dispensed twice whatever
    happens above the database."""

    __tablename__ = "prescription_dispense"
    __table_args__ = (
        UniqueConstraint("hi_rxno", "dspe_seq"),
        CheckConstraint("dspe_seq >= 1", name="dspe_seq"),
    )

    hi_rxno: Mapped[str] = mapped_column(ForeignKey("prescription.hi_rxno"))
    dspe_seq: Mapped[int] = mapped_column(Integer)
    fixmedins_code: Mapped[str] = mapped_column(String(30))
    dspe_time: Mapped[datetime]
    mdtrt_id: Mapped[str] = mapped_column(String(30))
    setl_id: Mapped[str] = mapped_column(String(30))
    phar_code: Mapped[str | None] = mapped_column(String(30))
    phar_name: Mapped[str | None] = mapped_column(String(50))


class DispenseLine(Base):
    """A dispensed drug line with its lot number and the trace codes of the packages handed out."""

    __tablename__ = "prescription_dispense_line"
    __table_args__ = (CheckConstraint("cnt > 0 AND pric >= 0", name="amounts"),)

    dispense_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("prescription_dispense.id"), primary_key=True
    )
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    med_list_codg: Mapped[str] = mapped_column(String(50))
    cnt: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    pric: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    manu_lotnum: Mapped[str] = mapped_column(String(50))
    drug_trac_codg: Mapped[list[str]] = mapped_column(JSON)


class DrugTraceCode(Base):
    """Each drug trace code (药品追溯码) dispensed, once: one package is never sold twice."""

    __tablename__ = "drug_trace_code"

    drug_trac_codg: Mapped[str] = mapped_column(String(100), primary_key=True)
    dispense_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prescription_dispense.id"))
    line_no: Mapped[int] = mapped_column(Integer)
