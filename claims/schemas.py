"""The claims wire contract (pydantic v2), with the national field names of DOMAIN.md section 2.

Amounts go out as strings with two decimals ("211.40") so no client has to parse money as a float;
they come in as strings (or JSON numbers, read exactly).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

Amount = Annotated[
    Decimal,
    Field(ge=0, max_digits=14, decimal_places=2),
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json"),
]
Ratio = Annotated[Decimal, Field(ge=0, le=1, max_digits=6, decimal_places=4)]
Admdvs = Annotated[str, Field(pattern=r"^\d{6}$")]
Insutype = Literal["310", "320", "330", "390", "392"]
MedType = Literal["11", "14", "21", "41"]
IcdCode = Annotated[str, Field(min_length=3, max_length=20, pattern=r"^[A-Z][0-9]{2}")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- policies ------------------------------------------------------------------------------------


class BandIn(Strict):
    upto: Amount | None = None
    ratio: Ratio


class BasicPolicyIn(Strict):
    insutype: Insutype
    med_type: MedType
    hosp_lv: int | None = Field(default=None, ge=1, le=3)
    valid_from: date
    valid_to: date | None = None
    fund_pay_type: str = Field(pattern=r"^\d{6}$")
    deductible: Amount
    pool_bands: list[BandIn] = Field(min_length=1)
    retiree_pool_bands: list[BandIn] | None = None
    annual_cap: Amount
    account_enabled: bool = False
    followup_lookback_days: int = Field(default=365, ge=1, le=3650)
    acc_category: str | None = Field(
        default=None,
        pattern=r"^\d{3}-\d{2}$",
        description="accumulator bucket, default '<insutype>-<med_type>'",
    )


class CriticalIllnessPolicyIn(Strict):
    insutype: Insutype = Field(description="the basic insutype this insurance tops up")
    valid_from: date
    valid_to: date | None = None
    fund_pay_type: Literal["390200", "330100"]
    threshold: Amount
    bands: list[BandIn] = Field(min_length=1)
    annual_cap: Amount


class AssistancePolicyIn(Strict):
    category: str = Field(min_length=1, max_length=20)
    valid_from: date
    valid_to: date | None = None
    fund_pay_type: str = Field(default="610100", pattern=r"^\d{6}$")
    ratio: Ratio
    annual_cap: Amount


class PolicyLoad(Strict):
    """A region's benefit policy rows; each row is a new version from its ``valid_from``."""

    basic: list[BasicPolicyIn] = Field(default_factory=list)
    critical_illness: list[CriticalIllnessPolicyIn] = Field(default_factory=list)
    assistance: list[AssistancePolicyIn] = Field(default_factory=list)


class PolicyLoadResult(BaseModel):
    admdvs: str
    basic: int
    critical_illness: int
    assistance: int


# --- persons -------------------------------------------------------------------------------------


class PersonIn(Strict):
    psn_no: str = Field(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9]+$")
    psn_name: str = Field(min_length=1, max_length=50)
    certno: str = Field(min_length=18, max_length=18, description="resident ID, 18 characters")
    admdvs: Admdvs
    insutype: Insutype
    retired: bool = False
    asst_type: str | None = Field(default=None, max_length=20)
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


class CategoryOpening(Strict):
    insutype: Insutype
    med_type: MedType
    deductible_used: Amount = Decimal("0")
    hifp_paid: Amount = Decimal("0")


class OpeningBalancesIn(Strict):
    """Year-to-date figures carried over from a legacy system at go-live."""

    year: int = Field(ge=2000, le=2100)
    categories: list[CategoryOpening] = Field(default_factory=list)
    inscp_psn_cum: Amount = Decimal("0")
    critical_paid: Amount = Decimal("0")
    assistance_paid: Amount = Decimal("0")
    acct_balc: Amount | None = None


# --- visits and fee lines ------------------------------------------------------------------------


class DiagnosisIn(Strict):
    diag_code: IcdCode
    diag_name: str = Field(min_length=1, max_length=100)
    maindiag_flag: Literal["0", "1"] = "0"


class VisitIn(Strict):
    """2201 register a visit."""

    psn_no: str = Field(min_length=1, max_length=30)
    mdtrt_cert_type: Literal["01", "02", "03"]
    mdtrt_cert_no: str = Field(min_length=1, max_length=64)
    fixmedins_code: str = Field(min_length=1, max_length=30)
    med_type: MedType
    biz_type_code: Literal["01", "02"]
    begntime: datetime
    dr_code: str | None = Field(default=None, max_length=30)
    diseinfo: list[DiagnosisIn] = Field(min_length=1)
    selfpay_flag: bool = Field(
        default=False,
        description="register as a self-pay visit when the insurance checks refuse it",
    )


class VisitOut(BaseModel):
    mdtrt_id: str
    psn_no: str
    fixmedins_code: str
    insutype: str
    med_type: str
    biz_type_code: str
    begntime: datetime
    dr_code: str | None
    insurance_payable: bool
    refusal_code: str | None


class FeeLineIn(Strict):
    feedetl_sn: str = Field(min_length=1, max_length=30)
    med_list_codg: str = Field(min_length=1, max_length=50)
    cnt: Decimal = Field(gt=0, max_digits=12, decimal_places=4)
    pric: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=4)
    fee_ocur_time: datetime | None = None


class FeeUpload(Strict):
    """2204 upload fee lines."""

    feedetail: list[FeeLineIn] = Field(min_length=1, max_length=500)


class FeeLineOut(BaseModel):
    feedetl_sn: str
    med_list_codg: str
    name: str
    pric: Decimal
    cnt: Decimal
    det_item_fee_sumamt: Amount
    pric_uplmt_amt: Decimal | None
    selfpay_prop: Decimal
    chrgitm_lv: int
    fulamt_ownpay_amt: Amount
    overlmt_amt: Amount
    preselfpay_amt: Amount
    inscp_scp_amt: Amount


class FeeUploadOut(BaseModel):
    mdtrt_id: str
    feedetail: list[FeeLineOut]


# --- settlement ----------------------------------------------------------------------------------


class SettleIn(Strict):
    """2206 pre-settle / 2207 settle."""

    acct_used_flag: bool = False
    presettle_token: str | None = Field(
        default=None, max_length=64, description="from pre-settle; settle says if it changed"
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
    insutype: str
    med_type: str
    clr_type: str
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


class SettlementPage(BaseModel):
    items: list[SettlementOut]
    next_cursor: str | None
