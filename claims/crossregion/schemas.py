"""The cross-region wire contract: filings (备案) under the national field names."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from engine.wire import Admdvs, CalendarDate, Code, WireModel

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
