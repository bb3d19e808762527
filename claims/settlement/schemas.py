"""The claims wire contract (pydantic v2), with the national field names of domain.md section 2.

Amounts go out as strings with two decimals ("211.40") so no client has to parse money as a float;
they come in as decimal strings or JSON integers, never floats (the types of ``engine.wire``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, PrivateAttr, StrictInt
from pydantic_core import PydanticCustomError

from engine.wire import (
    Admdvs,
    BizTypeCode,
    CalendarDate,
    ChrgitmLv,
    ClrType,
    Code,
    EventTime,
    Flag,
    HospLv,
    Identifier,
    Insutype,
    MdtrtCertNo,
    MdtrtCertType,
    MedType,
    Quantity,
    Ratio,
    ResidentId,
    Text,
    UnitPrice,
    WireBool,
    WireDecimal,
    WireModel,
    Yuan,
)

__all__ = ["Admdvs", "Amount", "ClrType", "IcdCode", "Insutype", "MedType", "Ratio"]

Amount = Yuan
#: ICD-10 (national clinical edition): a letter, two digits, then the subcategory and extension.
IcdCode = Annotated[
    str, Field(min_length=3, max_length=20, pattern=r"^[A-Z][0-9]{2}[A-Za-z0-9.+*-]*$")
]
#: A fee line's own price, when given: a unit price above zero.
PositivePrice = Annotated[Decimal, WireDecimal(places=4, digits=10, positive=True)]
FundPayType = Annotated[str, Field(pattern=r"^[0-9]{6}$")]


# --- policies ------------------------------------------------------------------------------------


class BandIn(WireModel):
    upto: Amount | None = None
    ratio: Ratio


class BasicPolicyIn(WireModel):
    insutype: Insutype
    med_type: MedType
    hosp_lv: HospLv | None = None
    valid_from: CalendarDate
    valid_to: CalendarDate | None = None
    fund_pay_type: FundPayType
    deductible: Amount
    pool_bands: list[BandIn] = Field(min_length=1)
    retiree_pool_bands: list[BandIn] | None = None
    annual_cap: Amount
    account_enabled: WireBool = False
    followup_lookback_days: StrictInt = Field(default=365, ge=1, le=3650)
    acc_category: str | None = Field(
        default=None,
        pattern=r"^[0-9]{3}-[0-9]{2}$",
        description="accumulator bucket, default '<insutype>-<med_type>'",
    )


class CriticalIllnessPolicyIn(WireModel):
    insutype: Insutype = Field(description="the basic insutype this insurance tops up")
    valid_from: CalendarDate
    valid_to: CalendarDate | None = None
    fund_pay_type: Literal["390200", "330100"]
    threshold: Amount
    bands: list[BandIn] = Field(min_length=1)
    annual_cap: Amount


class AssistancePolicyIn(WireModel):
    category: Annotated[Text, Field(max_length=20)]
    valid_from: CalendarDate
    valid_to: CalendarDate | None = None
    fund_pay_type: FundPayType = "610100"
    ratio: Ratio
    annual_cap: Amount


CareType = Literal["long_term_residence", "referral", "temporary_travel", "unfiled"]


class CrossRegionPolicyIn(WireModel):
    """The region's terms for its insured's care in another region of one care type (a filing
    type, or ``unfiled``): paid or not, and the basic pool's ratio moved by a number of
    percentage points (the result kept within 0..100%)."""

    care_type: CareType
    valid_from: CalendarDate
    valid_to: CalendarDate | None = None
    payable: WireBool = True
    pool_prop_points: StrictInt = Field(
        default=0, ge=-100, le=100, description="e.g. -10: ten percentage points lower"
    )


class PolicyLoad(WireModel):
    """A region's benefit policy rows; each row is a new version from its ``valid_from``."""

    basic: list[BasicPolicyIn] = Field(default_factory=list)
    critical_illness: list[CriticalIllnessPolicyIn] = Field(default_factory=list)
    assistance: list[AssistancePolicyIn] = Field(default_factory=list)
    cross_region: list[CrossRegionPolicyIn] = Field(default_factory=list)


class PolicyLoadResult(BaseModel):
    admdvs: str
    basic: int
    critical_illness: int
    assistance: int
    cross_region: int


# --- persons -------------------------------------------------------------------------------------


class PersonIn(WireModel):
    psn_no: Code
    psn_name: Annotated[Text, Field(max_length=50)]
    certno: ResidentId = Field(description="resident ID, 18 characters")
    admdvs: Admdvs
    insutype: Insutype
    retired: WireBool = False
    asst_type: Annotated[Text, Field(max_length=20)] | None = None
    opsp_dise_codes: list[IcdCode] = Field(default_factory=list)
    acct_balc: Amount = Decimal("0")


class PersonOut(BaseModel):
    psn_no: str
    psn_name: str
    certno_masked: str
    admdvs: str
    insutype: str
    retired: bool
    asst_type: str | None
    opsp_dise_codes: list[str]
    acct_balc: Amount


class BenefitStanding(BaseModel):
    """One basic benefit of the person in a year: its deductible and annual cap (at
    ``hosp_lv``; null: any level) against the accumulator category it counts in."""

    med_type: str
    hosp_lv: int | None
    acc_category: str = Field(description="the accumulator bucket, '<insutype>-<med_type>'")
    deductible: Amount
    deductible_used: Amount
    deductible_remaining: Amount
    annual_cap: Amount
    hifp_paid: Amount = Field(description="what the pooled fund paid in the category this year")
    cap_remaining: Amount


class CriticalIllnessStanding(BaseModel):
    """Critical-illness insurance: it pays once the year's cumulative in-scope personal share
    passes the threshold."""

    threshold: Amount
    inscp_psn_cum: Amount = Field(description="cumulative in-scope personal share this year")
    threshold_remaining: Amount
    annual_cap: Amount
    critical_paid: Amount
    cap_remaining: Amount


class PersonRead(PersonOut):
    """A person with the year's accumulators measured against the policy in force (today's for
    the current year, the year's last day for a past one, its first for a future one)."""

    year: int
    benefits: list[BenefitStanding]
    critical_illness: CriticalIllnessStanding | None
    assistance_paid: Amount


class CategoryOpening(WireModel):
    insutype: Insutype
    med_type: MedType
    deductible_used: Amount = Decimal("0")
    hifp_paid: Amount = Decimal("0")


class OpeningBalancesIn(WireModel):
    """Year-to-date figures carried over from a legacy system at go-live."""

    year: Annotated[StrictInt, Field(ge=2000, le=2099)]
    categories: list[CategoryOpening] = Field(default_factory=list)
    inscp_psn_cum: Amount = Decimal("0")
    critical_paid: Amount = Decimal("0")
    assistance_paid: Amount = Decimal("0")
    acct_balc: Amount | None = None


# --- visits and fee lines ------------------------------------------------------------------------


class DiagnosisIn(WireModel):
    diag_code: IcdCode
    diag_name: Annotated[Text, Field(max_length=100)]
    maindiag_flag: Flag = "0"


def _one_main_diagnosis(diseinfo: list[DiagnosisIn]) -> list[DiagnosisIn]:
    """A visit has exactly one main diagnosis (``maindiag_flag`` "1"): the one it is coded by."""
    mains = sum(1 for d in diseinfo if d.maindiag_flag == "1")
    if mains != 1:
        raise PydanticCustomError(
            "main_diagnosis", "exactly one diagnosis must be the main one (maindiag_flag 1)"
        )
    return diseinfo


class VisitIn(WireModel):
    """2201 register a visit."""

    psn_no: Code
    mdtrt_cert_type: MdtrtCertType
    mdtrt_cert_no: MdtrtCertNo
    fixmedins_code: Code
    med_type: MedType
    biz_type_code: BizTypeCode
    begntime: EventTime
    dr_code: Code | None = None
    diseinfo: Annotated[
        list[DiagnosisIn], Field(min_length=1, max_length=20), AfterValidator(_one_main_diagnosis)
    ]
    selfpay_flag: WireBool = Field(
        default=False,
        description="register as a self-pay visit when the insurance checks refuse it",
    )
    ipt_otp_no: Code | None = Field(
        default=None,
        description=(
            "the institution's own outpatient or inpatient number (门诊号/住院号): a second "
            "registration under it answers the visit the first one made (the same request) or "
            "409 visit_number_reused (another request)"
        ),
    )


class VisitOut(BaseModel):
    mdtrt_id: str
    psn_no: str
    fixmedins_code: str
    insuplc_admdvs: str = Field(description="the person's pooling region (参保地)")
    filing_type: CareType | None = Field(
        default=None,
        description="cross-region care: the filing type that covers the visit day, or unfiled",
    )
    insutype: str
    med_type: str
    biz_type_code: str
    begntime: datetime
    dr_code: str | None
    insurance_payable: bool
    refusal_code: str | None
    ipt_otp_no: str | None = None


class FeeLineIn(WireModel):
    feedetl_sn: Code
    med_list_codg: Annotated[Identifier, Field(max_length=50)]
    cnt: Quantity
    pric: PositivePrice | None = None
    fee_ocur_time: EventTime | None = None
    chrg_bchno: Code | None = Field(
        default=None, description="the HIS's charge batch the line is billed in"
    )


class FeeUpload(WireModel):
    """2204 upload fee lines."""

    feedetail: list[FeeLineIn] = Field(min_length=1, max_length=500)


class FeeLineOut(BaseModel):
    feedetl_sn: str
    med_list_codg: str
    name: str
    pric: UnitPrice
    cnt: Quantity
    det_item_fee_sumamt: Amount
    pric_uplmt_amt: UnitPrice | None
    selfpay_prop: Ratio
    chrgitm_lv: ChrgitmLv
    fulamt_ownpay_amt: Amount
    overlmt_amt: Amount
    preselfpay_amt: Amount
    inscp_scp_amt: Amount


class FeeUploadOut(BaseModel):
    mdtrt_id: str
    feedetail: list[FeeLineOut]


# --- settlement ----------------------------------------------------------------------------------


class SettleIn(WireModel):
    """2206 pre-settle / 2207 settle."""

    acct_used_flag: WireBool = False
    presettle_token: Annotated[Text, Field(max_length=64)] | None = Field(
        default=None, description="from pre-settle; settle says if it changed"
    )


class SetlDetailOut(BaseModel):
    fund_pay_type: str
    fund_payamt: Amount
    inscp_scp_amt: Amount
    crt_payb_lmt_amt: Amount
    setl_proc_info: str


class LineSplitOut(BaseModel):
    feedetl_sn: str
    det_item_fee_sumamt: Amount
    fulamt_ownpay_amt: Amount
    overlmt_amt: Amount
    preselfpay_amt: Amount
    inscp_scp_amt: Amount


class SettlementOut(BaseModel):
    setl_id: str | None = Field(description="null for a pre-settlement")
    mdtrt_id: str
    psn_no: str
    fixmedins_code: str
    insuplc_admdvs: str = Field(description="the person's pooling region (参保地)")
    mdtrtarea_admvs: str = Field(description="the institution's pooling region (就医地)")
    filing_type: CareType | None = Field(
        default=None,
        description="cross-region care: the filing type that covered the visit, or unfiled",
    )
    insutype: str
    med_type: str
    clr_type: ClrType
    clr_way: str
    setl_time: datetime
    status: Literal["presettled", "settled", "revoked"]
    refd_setl_flag: Literal["0", "1"]
    revoked_at: datetime | None = None
    acct_used_flag: bool
    medfee_sumamt: Amount
    fulamt_ownpay_amt: Amount
    overlmt_selfpay: Amount
    preselfpay_amt: Amount
    inscp_scp_amt: Amount
    act_pay_dedc: Amount
    hifp_pay: Amount
    cvlserv_pay: Amount
    hifes_pay: Amount
    hifmi_pay: Amount
    hifob_pay: Amount
    maf_pay: Amount
    oth_pay: Amount
    fund_pay_sumamt: Amount
    psn_part_amt: Amount
    acct_pay: Amount
    psn_cash_pay: Amount
    balc: Amount
    setldetail: list[SetlDetailOut]
    lines: list[LineSplitOut]
    explanation: dict[str, Any]
    presettle_token: str | None = Field(
        default=None, description="the accumulator state this was computed on"
    )
    accumulators_changed: bool | None = Field(
        default=None, description="settle only: true when accumulators moved since pre-settle"
    )
    _json: str | None = PrivateAttr(default=None)

    def as_json(self) -> str:
        """The answer as JSON, serialised once: 2207 stores these bytes as the idempotent copy
        and sends them as the response."""
        if self._json is None:
            self._json = self.model_dump_json()
        return self._json


class SettlementPage(BaseModel):
    items: list[SettlementOut]
    next_cursor: str | None


# --- cross-region filings (备案) ------------------------------------------------------------------


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
