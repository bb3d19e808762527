"""The wire contract of reconciliation (3201 totals, 3202 details) and clearing (3203).

Field names are the national platform's (``stmt_begndate``, ``fixmedins_setl_cnt``, ``stmt_rslt``,
``setlym``, ``clr_appy_evt_id``, ``psntime``, ``fund_appy_sum`` ...). ``stmt_rslt`` is ``0`` when
the two sides balance and ``1`` when they do not. Amounts go out as strings with two decimals;
clearing amounts are signed (an adjustment, or a month of net revocations, is negative).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt

from engine.wire import CalendarDate, ClrType, Code, Insutype, SignedYuan, WireModel, Yuan

StmtRslt = Literal["0", "1"]
Setlym = Annotated[
    str, Field(pattern=r"^20[0-9]{2}(0[1-9]|1[0-2])$", description="YYYYMM", examples=["202606"])
]
MismatchKind = Literal[
    "missing_here", "missing_there", "amount_differs", "revocation_differs", "identity_differs"
]


# --- reconciliation ------------------------------------------------------------------------------


class SettlementTotals(BaseModel):
    """Count and sums of live settlements (``refd_setl_flag`` 0)."""

    fixmedins_setl_cnt: int
    medfee_sumamt: SignedYuan
    fund_pay_sumamt: SignedYuan
    acct_pay: SignedYuan


class TotalsIn(WireModel):
    """3201: the institution's own count and sums for a period, to be checked."""

    fixmedins_code: Code | None = Field(
        default=None,
        description="required for insurers; institutions default to their own code",
    )
    insutype: Insutype
    clr_type: ClrType
    stmt_begndate: CalendarDate
    stmt_enddate: CalendarDate
    fixmedins_setl_cnt: Annotated[StrictInt, Field(ge=0, le=100_000_000)]
    medfee_sumamt: Yuan
    fund_pay_sumamt: Yuan
    acct_pay: Yuan


class TotalsOut(BaseModel):
    fixmedins_code: str
    insutype: str
    clr_type: str
    stmt_begndate: date
    stmt_enddate: date
    stmt_rslt: StmtRslt
    stmt_rslt_dscr: str = Field(description="what differs, or 'balanced'")
    here: SettlementTotals = Field(description="the engine's own figures")


class DetailSide(BaseModel):
    mdtrt_id: str | None
    psn_no: str | None
    medfee_sumamt: SignedYuan
    fund_pay_sumamt: SignedYuan
    acct_pay: SignedYuan
    refd_setl_flag: Literal["0", "1"]


class MismatchOut(BaseModel):
    setl_id: str
    kinds: list[MismatchKind]
    file: DetailSide | None = Field(description="the institution's row; null if missing there")
    here: DetailSide | None = Field(description="the engine's row; null if missing here")


class MismatchCounts(BaseModel):
    missing_here: int = Field(description="rows of the file the engine does not have")
    missing_there: int = Field(description="settlements of the engine the file lacks")
    amount_differs: int
    revocation_differs: int
    identity_differs: int = Field(description="same setl_id, other mdtrt_id or psn_no")


class DetailSideTotals(SettlementTotals):
    rows: int = Field(description="every row, revoked ones included")


class DetailReconOut(BaseModel):
    """3202's answer: both sides' totals, the count of each kind of mismatch and the mismatches
    themselves (the first ``limit`` by setl_id here; all of them from ``mismatches_csv``)."""

    recon_id: uuid.UUID
    admdvs: str
    fixmedins_code: str | None
    insutype: str | None
    clr_type: str | None
    stmt_begndate: date
    stmt_enddate: date
    stmt_rslt: StmtRslt
    created_at: datetime
    file: DetailSideTotals
    here: DetailSideTotals
    counts: MismatchCounts
    mismatches: list[MismatchOut]
    mismatches_truncated: bool
    mismatches_csv: str = Field(description="path of the CSV with every mismatch")


JobStatus = Literal["queued", "running", "done", "failed"]


class DetailJobOut(BaseModel):
    """A 3202 submitted for a worker: its state, the file's totals (known at submission) and,
    once ``done``, the same document the synchronous 3202 answers."""

    recon_id: uuid.UUID
    status: JobStatus
    status_url: str = Field(description="poll this until the status is done or failed")
    submitted_at: datetime
    started_at: datetime | None = Field(description="when a worker last started it")
    finished_at: datetime | None
    error: str | None = Field(description="why it failed")
    file: DetailSideTotals
    result: DetailReconOut | None = Field(description="the reconciliation, once done")


# --- clearing ------------------------------------------------------------------------------------


class ClearingApplyIn(WireModel):
    """3203: apply for a settled month."""

    setlym: Setlym
    clr_type: ClrType


class FundLineOut(BaseModel):
    """payable = claimed + adjustment − bundle_deduction − dip_deduction − budget_withheld −
    budget_deferred."""

    fund: str = Field(description="the settlement column of the fund: hifp_pay, maf_pay ...")
    claimed: SignedYuan
    adjustment: SignedYuan
    bundle_deduction: SignedYuan = Field(description="members' care paid by the holder's bundle")
    dip_deduction: SignedYuan = Field(description="DIP cases, paid by points")
    budget_withheld: SignedYuan = Field(description="global budget quality withholding")
    budget_deferred: SignedYuan = Field(description="above the budget's monthly cap, to year end")
    payable: SignedYuan


class BudgetBasisOut(BaseModel):
    """The global budget behind the pooled fund's line, from the funding ledger's prepayment of
    the month (the one record of it): the month as prepaid, the batch's clr_type part of it, and
    how the batch's frozen item-by-item share compares.

    payable (pooled fund) = ``prepaid``; ``deferred`` = ``fund_share`` − ``gross`` =
    ``deferred_at_run`` + ``since_run``, settled by the year-end clearing."""

    budget_amt: SignedYuan
    monthly_cap: SignedYuan
    withhold_ratio: str
    fund_share: SignedYuan = Field(description="the batch's frozen item-by-item pooled-fund share")
    gross: SignedYuan = Field(description="the batch's clr_type part of the month's gross")
    prepaid: SignedYuan = Field(description="... of the month's prepayment: what this batch pays")
    withheld: SignedYuan = Field(description="... of the month's quality withholding")
    deferred: SignedYuan = Field(description="fund_share − gross, to the year-end clearing")
    run_fund_share: SignedYuan = Field(description="the clr_type's fund share when the month ran")
    deferred_at_run: SignedYuan = Field(
        description="run_fund_share − gross: the monthly cap at work"
    )
    since_run: SignedYuan = Field(
        description="fund_share − run_fund_share: settled or revoked after the run, or carried in"
    )
    month_fund_share: SignedYuan = Field(description="the institution's whole month, as prepaid")
    month_gross: SignedYuan
    month_prepaid: SignedYuan
    month_withheld: SignedYuan


class ClearingBatchOut(BaseModel):
    clr_appy_evt_id: str
    fixmedins_code: str
    admdvs: str
    clr_type: str
    setlym: str
    clr_stas: Literal["applied", "approved"]
    applied_at: datetime
    approved_at: datetime | None
    psntime: int | None = Field(description="settlements cleared (frozen at approval)")
    adjustment_cnt: int | None = Field(description="revocations of earlier batches carried in")
    medfee_sumamt: SignedYuan | None
    fund_appy_sum: SignedYuan | None
    acct_pay: SignedYuan | None
    cash_payamt: SignedYuan | None
    payable_sumamt: SignedYuan | None
    funds: list[FundLineOut]
    budget: BudgetBasisOut | None


class ClearingBatchPage(BaseModel):
    items: list[ClearingBatchOut]
