"""The cross-region wire contract: filings (备案) and inter-region claims, under the national
field names."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from claims.clearing.schemas import Setlym
from engine.wire import Admdvs, CalendarDate, Code, SignedYuan, WireModel

FilingType = Literal["long_term_residence", "referral", "temporary_travel"]


class FilingIn(WireModel):
    psn_no: Code
    filing_type: FilingType = Field(
        description="long_term_residence 异地长期居住, referral 转诊, temporary_travel 临时外出"
    )
    mdtrtarea_admvs: Admdvs = Field(description="the treatment region (就医地)")
    begndate: CalendarDate
    enddate: CalendarDate | None = Field(default=None, description="inclusive; none: open-ended")


class FilingEndIn(WireModel):
    enddate: CalendarDate = Field(description="the last day the filing applies (inclusive)")


class FilingOut(BaseModel):
    trt_dcla_detl_sn: str = Field(description="the filing's serial number (待遇申报明细流水号)")
    psn_no: str
    insuplc_admdvs: str
    mdtrtarea_admvs: str
    filing_type: FilingType
    begndate: date
    enddate: date | None
    status: Literal["active", "revoked"]
    revoked_at: datetime | None


class FilingPage(BaseModel):
    items: list[FilingOut]
    next_cursor: str | None


# --- inter-region claims -------------------------------------------------------------------------


class ClaimIn(WireModel):
    insuplc_admdvs: Admdvs = Field(description="the insured place claimed from")
    setlym: Setlym


class ClaimOut(BaseModel):
    claim_id: str
    mdtrtarea_admvs: str = Field(description="the treatment place, which claims")
    insuplc_admdvs: str = Field(description="the insured place, which owes")
    setlym: str
    frozen_at: datetime
    setl_cnt: int = Field(description="settlements of the month")
    adjustment_cnt: int = Field(description="revocations carried in from earlier claims")
    medfee_sumamt: SignedYuan
    fund_pay_sumamt: SignedYuan = Field(
        description="the fund share of the month's settlements, net of the adjustments"
    )


class ClaimList(BaseModel):
    items: list[ClaimOut]


ClaimMismatchKind = Literal["missing_here", "missing_there", "amount_differs"]


class ClaimSide(BaseModel):
    lines: int
    fund_pay_sumamt: SignedYuan


class ClaimMismatch(BaseModel):
    setl_id: str
    kind: Literal["settlement", "adjustment"]
    mismatch: ClaimMismatchKind = Field(
        description="missing_here: a line the insured place has no record of; missing_there: "
        "a line of its record the claim lacks; amount_differs: both, other fund share"
    )
    claimed: SignedYuan | None = Field(description="the claim's fund share; null if missing")
    recorded: SignedYuan | None = Field(description="the record's fund share; null if missing")


class ClaimReconOut(BaseModel):
    claim_id: str
    balanced: bool
    claim: ClaimSide
    record: ClaimSide
    mismatches: list[ClaimMismatch]
