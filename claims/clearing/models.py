"""Tables of reconciliation (对账 3201/3202) and clearing (清算 3203), docs/domain.md section 10.

Amounts are integer fen under their national names, as in ``claims.settlement.models``.

* :class:`ReconRun` and :class:`ReconMismatch` keep each detail reconciliation (3202) and every
  mismatch it found, so the answer to a million-row file can be read back page by page (or as
  CSV) instead of being held in one response.
* :class:`ReconJob` is a detail reconciliation submitted for a worker: its state, and what the
  worker needs besides the run (the scope's region). Its upload waits in a staging table of its
  own until the diff, which is dropped in the transaction that stores the result.
* :class:`ClearingBatch` is one institution's application (3203) for a settled month and
  ``clr_type``; approval freezes it. The frozen content is :class:`ClearingLine` rows (one per
  included settlement, and one per revocation carried in as an adjustment) and
  :class:`ClearingFundLine` totals, never recomputed from ``settlement`` afterwards, so a later
  revocation cannot change a frozen month. The primary key of ``clearing_line`` (setl_id, kind)
  is the database's promise that a settlement is cleared at most once and its revocation carried
  at most once.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, UuidPrimaryKey, utcnow

#: Every fund a batch pays, by its settlement column: the pooled funds of docs/domain.md section 5
#: and the personal account, which the account fund pays to the institution too.
FUNDS = (
    "hifp_pay",
    "cvlserv_pay",
    "hifes_pay",
    "hifmi_pay",
    "hifob_pay",
    "maf_pay",
    "oth_pay",
    "acct_pay",
)


class ReconRun(UuidPrimaryKey, Base):
    """One detail reconciliation (3202): its scope, both sides' totals and the mismatch counts.

    Totals are over live rows (``refd_setl_flag`` 0 / status settled), like 3201's; ``*_rows``
    count every row, revoked ones included.
    """

    __tablename__ = "recon_run"
    __table_args__ = (
        CheckConstraint("stmt_rslt IN ('0', '1')", name="stmt_rslt"),
        Index("ix_recon_run_admdvs_created_at", "admdvs", "created_at"),
    )

    requested_by: Mapped[uuid.UUID]
    admdvs: Mapped[str] = mapped_column(String(6))
    # NULL: an insurer's whole region.
    fixmedins_code: Mapped[str | None] = mapped_column(String(30))
    insutype: Mapped[str | None] = mapped_column(String(3))
    clr_type: Mapped[str | None] = mapped_column(String(3))
    stmt_begndate: Mapped[date]
    stmt_enddate: Mapped[date]
    stmt_rslt: Mapped[str] = mapped_column(String(1))
    file_rows: Mapped[int] = mapped_column(BigInteger)
    file_setl_cnt: Mapped[int] = mapped_column(BigInteger)
    file_medfee_sumamt: Mapped[int] = mapped_column(BigInteger)
    file_fund_pay_sumamt: Mapped[int] = mapped_column(BigInteger)
    file_acct_pay: Mapped[int] = mapped_column(BigInteger)
    here_rows: Mapped[int] = mapped_column(BigInteger)
    here_setl_cnt: Mapped[int] = mapped_column(BigInteger)
    here_medfee_sumamt: Mapped[int] = mapped_column(BigInteger)
    here_fund_pay_sumamt: Mapped[int] = mapped_column(BigInteger)
    here_acct_pay: Mapped[int] = mapped_column(BigInteger)
    missing_here: Mapped[int] = mapped_column(BigInteger)
    missing_there: Mapped[int] = mapped_column(BigInteger)
    amount_differs: Mapped[int] = mapped_column(BigInteger)
    revocation_differs: Mapped[int] = mapped_column(BigInteger)
    identity_differs: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReconMismatch(Base):
    """One settlement on which the institution's file and the engine disagree.

    ``missing_here``: in the file only; ``missing_there``: in the engine only; otherwise one or
    more of the three ``*_differs`` flags. ``file_*`` and ``here_*`` are each side's row (NULL on
    the side that lacks it).
    """

    __tablename__ = "recon_mismatch"

    recon_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recon_run.id", ondelete="CASCADE"), primary_key=True
    )
    setl_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    missing_here: Mapped[bool] = mapped_column(Boolean)
    missing_there: Mapped[bool] = mapped_column(Boolean)
    amount_differs: Mapped[bool] = mapped_column(Boolean)
    revocation_differs: Mapped[bool] = mapped_column(Boolean)
    identity_differs: Mapped[bool] = mapped_column(Boolean)
    file_mdtrt_id: Mapped[str | None] = mapped_column(String(30))
    file_psn_no: Mapped[str | None] = mapped_column(String(30))
    file_medfee_sumamt: Mapped[int | None] = mapped_column(BigInteger)
    file_fund_pay_sumamt: Mapped[int | None] = mapped_column(BigInteger)
    file_acct_pay: Mapped[int | None] = mapped_column(BigInteger)
    file_refd_setl_flag: Mapped[str | None] = mapped_column(String(1))
    here_mdtrt_id: Mapped[str | None] = mapped_column(String(30))
    here_psn_no: Mapped[str | None] = mapped_column(String(30))
    here_medfee_sumamt: Mapped[int | None] = mapped_column(BigInteger)
    here_fund_pay_sumamt: Mapped[int | None] = mapped_column(BigInteger)
    here_acct_pay: Mapped[int | None] = mapped_column(BigInteger)
    here_refd_setl_flag: Mapped[str | None] = mapped_column(String(1))


class ReconJob(Base):
    """A detail reconciliation (3202) done by a worker (``claims.clearing.tasks``).

    ``queued`` when the upload committed, ``running`` once a worker took it, ``done`` in the
    transaction that writes the mismatches, ``failed`` when the worker gave up (``error``). The
    run's totals and counts mean something only once the job is ``done``. ``dispatched_at`` is
    when a message was last sent for it: the dispatcher sends one for every job never sent, and
    again for a job left queued or running (and not being diffed) long after its last one.
    """

    __tablename__ = "recon_job"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        # The dispatcher's scan: only unfinished jobs.
        Index(
            "ix_recon_job_pending",
            "dispatched_at",
            postgresql_where=text("status IN ('queued', 'running')"),
            sqlite_where=text("status IN ('queued', 'running')"),
        ),
    )

    recon_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recon_run.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(10))
    # The region the scope is narrowed to: an insurer's (NULL: an institution's own settlements).
    scope_admdvs: Mapped[str | None] = mapped_column(String(6))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class ClearingBatch(Base):
    """An institution's clearing application (3203) for ``setlym`` and ``clr_type``.

    ``applied`` until the insurer approves; ``approved`` is frozen: the totals below and the
    batch's lines are written once, at approval, and never change.
    """

    __tablename__ = "clearing_batch"
    __table_args__ = (
        UniqueConstraint("fixmedins_code", "clr_type", "setlym"),
        CheckConstraint("clr_stas IN ('applied', 'approved')", name="clr_stas"),
        CheckConstraint(
            "clr_stas = 'applied' OR (approved_at IS NOT NULL AND payable_sumamt IS NOT NULL)",
            name="frozen",
        ),
        Index("ix_clearing_batch_admdvs_setlym", "admdvs", "setlym"),
    )

    clr_appy_evt_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    fixmedins_code: Mapped[str] = mapped_column(String(30))
    admdvs: Mapped[str] = mapped_column(String(6))
    clr_type: Mapped[str] = mapped_column(String(3))
    setlym: Mapped[str] = mapped_column(String(6))
    clr_stas: Mapped[str] = mapped_column(String(10))
    applied_by: Mapped[uuid.UUID]
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_by: Mapped[uuid.UUID | None]
    approved_at: Mapped[datetime | None]
    # Frozen at approval; net of the adjustments carried in.
    psntime: Mapped[int | None] = mapped_column(Integer)
    adjustment_cnt: Mapped[int | None] = mapped_column(Integer)
    medfee_sumamt: Mapped[int | None] = mapped_column(BigInteger)
    fund_appy_sum: Mapped[int | None] = mapped_column(BigInteger)
    acct_pay: Mapped[int | None] = mapped_column(BigInteger)
    cash_payamt: Mapped[int | None] = mapped_column(BigInteger)
    payable_sumamt: Mapped[int | None] = mapped_column(BigInteger)
    # The global budget's terms and figures behind the pooled fund's withholding, if any.
    budget: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ClearingFundLine(Base):
    """What one fund pays for a frozen batch, and why (every deduction is its own column).

    payable = claimed + adjustment − bundle − DIP − budget withheld − budget deferred.
    """

    __tablename__ = "clearing_fund_line"
    __table_args__ = (
        CheckConstraint(
            "payable = claimed + adjustment - bundle_deduction - dip_deduction "
            "- budget_withheld - budget_deferred",
            name="payable",
        ),
    )

    clr_appy_evt_id: Mapped[str] = mapped_column(
        ForeignKey("clearing_batch.clr_appy_evt_id"), primary_key=True
    )
    fund: Mapped[str] = mapped_column(String(20), primary_key=True)
    claimed: Mapped[int] = mapped_column(BigInteger)
    adjustment: Mapped[int] = mapped_column(BigInteger)
    bundle_deduction: Mapped[int] = mapped_column(BigInteger)
    dip_deduction: Mapped[int] = mapped_column(BigInteger)
    budget_withheld: Mapped[int] = mapped_column(BigInteger)
    budget_deferred: Mapped[int] = mapped_column(BigInteger)
    payable: Mapped[int] = mapped_column(BigInteger)


class ClearingLine(Base):
    """One settlement frozen into a batch (``kind`` settlement), or the revocation of a settlement
    of an earlier frozen batch carried into this one (``kind`` adjustment: every amount negated,
    ``carried_from`` the batch that cleared it)."""

    __tablename__ = "clearing_line"
    __table_args__ = (
        CheckConstraint("kind IN ('settlement', 'adjustment')", name="kind"),
        CheckConstraint("hifp_route IN ('item', 'bundle', 'points')", name="hifp_route"),
        CheckConstraint(
            "(kind = 'settlement' AND carried_from IS NULL) "
            "OR (kind = 'adjustment' AND carried_from IS NOT NULL)",
            name="carried_from",
        ),
    )

    setl_id: Mapped[str] = mapped_column(ForeignKey("settlement.setl_id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    clr_appy_evt_id: Mapped[str] = mapped_column(
        ForeignKey("clearing_batch.clr_appy_evt_id"), index=True
    )
    carried_from: Mapped[str | None] = mapped_column(String(30))
    mdtrt_id: Mapped[str] = mapped_column(String(30))
    psn_no: Mapped[str] = mapped_column(String(30))
    insutype: Mapped[str] = mapped_column(String(3))
    clr_way: Mapped[str] = mapped_column(String(3))
    # What the pooled-fund share is paid through (claims.funding): item by item to the
    # institution, by the holder's per-capita bundle, or by DIP points.
    hifp_route: Mapped[str] = mapped_column(String(6))
    setl_time: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    medfee_sumamt: Mapped[int] = mapped_column(BigInteger)
    fund_pay_sumamt: Mapped[int] = mapped_column(BigInteger)
    psn_cash_pay: Mapped[int] = mapped_column(BigInteger)
    hifp_pay: Mapped[int] = mapped_column(BigInteger)
    cvlserv_pay: Mapped[int] = mapped_column(BigInteger)
    hifes_pay: Mapped[int] = mapped_column(BigInteger)
    hifmi_pay: Mapped[int] = mapped_column(BigInteger)
    hifob_pay: Mapped[int] = mapped_column(BigInteger)
    maf_pay: Mapped[int] = mapped_column(BigInteger)
    oth_pay: Mapped[int] = mapped_column(BigInteger)
    acct_pay: Mapped[int] = mapped_column(BigInteger)
