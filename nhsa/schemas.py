"""The national envelope and the ``input``/``output`` of each transaction it carries.

Field names and nesting follow the national interface as public HIS client code implements it
(the 2201-2208 request classes of liutao2019/IBORN_HIS_ALL's ``API.GZSI`` models and
yao234/CodeMiddleWare's ``ClinicSettleMent``): 1101 ``{"data": {...}}`` answering
``baseinfo``/``insuinfo``, 2201 ``{"data": {...}}`` answering ``{"data": {"mdtrt_id", ...}}``,
2204 ``{"feedetail": [...]}`` answering ``{"result": [...]}``, 2206/2207 ``{"data": {...}}``
answering ``setlinfo``/``setldetail``. Members those clients send that the engine has no use for
(department, doctor names, invoice numbers) are accepted and ignored; an unknown member is
refused. HIS clients send ``""`` for a member they leave out, so optional members read ``""`` as
absent. Times without an offset are the region's local time (China Standard Time).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, Field, JsonValue

from claims.settlement.schemas import FilingType, IcdCode, PositivePrice
from engine.clock import CST
from engine.wire import (
    BizTypeCode,
    CalendarDate,
    ClrType,
    Code,
    EventTime,
    Flag,
    Identifier,
    Insutype,
    MdtrtCertNo,
    MdtrtCertType,
    MedType,
    ParameterInt,
    Quantity,
    Ratio,
    Text,
    UnitPrice,
    WireModel,
    Yuan,
)

T = TypeVar("T")

_LOCAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}")


def _blank_is_absent(value: object) -> object:
    return None if value == "" else value


def _local_time(value: object) -> object:
    """``yyyy-MM-dd HH:mm:ss`` without an offset is China Standard Time (UTC+8)."""
    if isinstance(value, str) and _LOCAL_TIME.fullmatch(value):
        return value.replace(" ", "T") + "+08:00"
    return value


def national_time(when: datetime) -> str:
    """A time as the national interface writes it: ``yyyy-MM-dd HH:mm:ss``, local time."""
    return when.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


#: A time that has happened, as ``yyyy-MM-dd HH:mm:ss`` local time or ISO 8601 with an offset.
LocalTime = Annotated[EventTime, BeforeValidator(_local_time)]
#: An optional member: absent, null or ``""``.
Omittable = Annotated[T | None, BeforeValidator(_blank_is_absent)]
#: Free text the engine accepts and does not use (names, department codes, notes).
Note = Omittable[Annotated[Text, Field(max_length=200)]]
#: 医保区划: six ASCII digits.
Region = Annotated[str, Field(pattern=r"^[0-9]{6}$")]
#: The sender's unique message id (institution code, ``yyyyMMddHHmmss`` and a sequence); it is the
#: Idempotency-Key of the transaction's write.
MSGID_PATTERN = r"^[A-Za-z0-9_\-:.]{8,100}$"
MsgId = Annotated[str, Field(pattern=MSGID_PATTERN)]
#: 交易编号: four digits.
InfNo = Annotated[str, Field(pattern=r"^[0-9]{4}$")]


# --- the envelope --------------------------------------------------------------------------------


class Envelope(WireModel):
    """The national request envelope; ``input`` is the transaction's own body."""

    infno: InfNo
    msgid: MsgId
    mdtrtarea_admvs: Region = Field(description="the treatment region: the institution's")
    insuplc_admdvs: Omittable[Region] = Field(default=None, description="the insured region")
    recer_sys_code: Note = None
    dev_no: Note = None
    dev_safe_info: Note = None
    cainfo: Omittable[Annotated[Text, Field(max_length=2000)]] = None
    signtype: Note = None
    infver: Note = None
    opter_type: Literal["1", "2", "3"] = Field(description="1 clerk, 2 kiosk, 3 mobile")
    opter: Annotated[Text, Field(max_length=30)]
    opter_name: Annotated[Text, Field(max_length=50)]
    inf_time: LocalTime
    fixmedins_code: Code
    fixmedins_name: Annotated[Text, Field(max_length=200)]
    sign_no: Note = None
    input: dict[str, JsonValue]


class EnvelopeOut(BaseModel):
    """The national response envelope. ``infcode`` 0 is success, -1 a refusal whose stable code
    and field are ``err_code`` and ``err_field`` (and lead ``err_msg``)."""

    infcode: Literal[0, -1]
    inf_refmsgid: str | None = Field(description="the msgid answered")
    refmsg_time: str = Field(description="when the engine received the message, local time")
    respond_time: str = Field(description="when the engine answered, local time")
    err_msg: str | None = None
    err_code: str | None = None
    err_field: str | None = None
    warn_msg: str | None = None
    cainfo: str | None = None
    signtype: str | None = None
    output: dict[str, JsonValue] | None = None


# --- 1101 person information ---------------------------------------------------------------------


class PersonQuery(WireModel):
    mdtrt_cert_type: MdtrtCertType
    mdtrt_cert_no: Omittable[MdtrtCertNo] = None
    card_sn: Note = None
    begntime: Omittable[LocalTime] = None
    psn_cert_type: Note = None
    certno: Omittable[Annotated[Text, Field(max_length=50)]] = None
    psn_name: Note = None


class PersonInfoIn(WireModel):
    data: PersonQuery


class BaseInfo(BaseModel):
    psn_no: str
    psn_cert_type: Literal["01"] = Field(description="01 resident ID card")
    certno: str = Field(description="masked")
    psn_name: str
    gend: Literal["1", "2"] | None = Field(
        description="1 male, 2 female; null when the person was identified by a voucher token "
        "alone (read from the resident ID, which the engine does not keep)"
    )
    brdy: str | None = Field(description="birth date, yyyy-MM-dd; null as gend")
    age: int | None = Field(description="null as gend")


class InsuInfo(BaseModel):
    balc: Yuan = Field(description="personal account balance")
    insutype: str
    psn_type: Literal["11", "21"] = Field(description="11 active, 21 retired")
    psn_insu_stas: Literal["1"] = Field(description="1 insured and paying")
    cvlserv_flag: Flag
    insuplc_admdvs: str


class IdetInfo(BaseModel):
    psn_idet_type: str = Field(description="the medical-assistance category")


class FilingInfo(BaseModel):
    """The insured place's filing (备案) for care in the caller's region, in force on the day
    asked: what the treatment place registers and settles the person under."""

    trt_dcla_detl_sn: str = Field(description="the filing's serial number")
    filing_type: FilingType
    insuplc_admdvs: str
    mdtrtarea_admvs: str
    begndate: date
    enddate: date | None


class PersonInfoOut(BaseModel):
    baseinfo: BaseInfo
    insuinfo: list[InsuInfo]
    idetinfo: list[IdetInfo]
    filing: FilingInfo | None = Field(
        description="for a person insured in another region, the filing covering the day "
        "(`begntime`, default today); null at home and for care without a filing (unfiled)"
    )


# --- 2201 register, 2202 cancel a visit ----------------------------------------------------------


class RegistrationData(WireModel):
    """2201's ``data``, with 2203's ``med_type`` (and the engine's ``biz_type_code``): the engine
    registers a visit with its medical category and diagnoses in one step."""

    psn_no: Code
    insutype: Omittable[Insutype] = None
    begntime: LocalTime
    mdtrt_cert_type: MdtrtCertType
    mdtrt_cert_no: MdtrtCertNo
    ipt_otp_no: Code = Field(description="the HIS's own outpatient number, echoed")
    atddr_no: Omittable[Code] = Field(default=None, description="the doctor's national code")
    dr_name: Note = None
    dept_code: Note = None
    dept_name: Note = None
    caty: Note = None
    psn_cert_type: Note = None
    certno: Note = None
    psn_type: Note = None
    psn_name: Note = None
    hcard_basinfo: Omittable[Annotated[Text, Field(max_length=2000)]] = None
    hcard_chkinfo: Omittable[Annotated[Text, Field(max_length=2000)]] = None
    med_type: MedType = "11"
    biz_type_code: BizTypeCode = "01"


class NationalDiagnosis(WireModel):
    """A diagnosis as 2203's ``diseinfo`` carries it; ``diag_srt_no`` 1 is the main one."""

    diag_type: Note = None
    diag_srt_no: Annotated[ParameterInt, Field(ge=1, le=99)]
    diag_code: IcdCode
    diag_name: Annotated[Text, Field(max_length=100)]
    diag_dept: Note = None
    dise_dor_no: Note = None
    dise_dor_name: Note = None
    diag_time: Omittable[LocalTime] = None
    vali_flag: Omittable[Flag] = None


class RegistrationIn(WireModel):
    data: RegistrationData
    diseinfo: list[NationalDiagnosis] = Field(min_length=1, max_length=20)


class Registered(BaseModel):
    mdtrt_id: str
    psn_no: str
    ipt_otp_no: str


class RegistrationOut(BaseModel):
    data: Registered


class VisitRef(WireModel):
    psn_no: Code
    mdtrt_id: Code
    ipt_otp_no: Omittable[Code] = None


class CancelVisitIn(WireModel):
    data: VisitRef


# --- 2204 upload fee lines, 2205 cancel them -----------------------------------------------------


class NationalFeeLine(WireModel):
    """A 2204 ``feedetail`` row. ``det_item_fee_sumamt``, when given, is the HIS's own figure,
    checked against the engine's pricing."""

    feedetl_sn: Code
    init_feedetl_sn: Note = None
    mdtrt_id: Code
    drord_no: Note = None
    psn_no: Code
    med_type: Omittable[MedType] = None
    fee_ocur_time: Omittable[LocalTime] = None
    med_list_codg: Annotated[Identifier, Field(max_length=50)]
    medins_list_codg: Note = None
    medins_list_name: Note = None
    det_item_fee_sumamt: Omittable[Yuan] = None
    cnt: Quantity
    pric: Omittable[PositivePrice] = None
    sin_dos_dscr: Note = None
    used_frqu_dscr: Note = None
    prd_days: Omittable[Quantity] = None
    medc_way_dscr: Note = None
    bilg_dept_codg: Note = None
    bilg_dept_name: Note = None
    bilg_dr_codg: Note = None
    bilg_dr_name: Note = None
    acord_dept_codg: Note = None
    acord_dept_name: Note = None
    orders_dr_code: Note = None
    orders_dr_name: Note = None
    hosp_appr_flag: Note = None
    tcmdrug_used_way: Note = None
    etip_flag: Note = None
    etip_hosp_code: Note = None
    dscg_tkdrug_flag: Note = None
    matn_fee_flag: Note = None
    rx_circ_flag: Note = None
    chrg_bchno: Omittable[Code] = Field(default=None, description="the HIS's charge batch")
    dise_codg: Note = None
    rxno: Note = None
    unchk_flag: Note = None
    unchk_memo: Note = None


class FeeUploadIn(WireModel):
    feedetail: list[NationalFeeLine] = Field(min_length=1, max_length=500)


class FeeResult(BaseModel):
    feedetl_sn: str
    det_item_fee_sumamt: Yuan
    cnt: Quantity
    pric: UnitPrice
    pric_uplmt_amt: UnitPrice | None
    selfpay_prop: Ratio
    fulamt_ownpay_amt: Yuan
    overlmt_amt: Yuan
    preselfpay_amt: Yuan
    inscp_scp_amt: Yuan
    chrgitm_lv: Literal["01", "02", "03"] = Field(description="01 class A, 02 class B, 03 self")


class FeeUploadOut(BaseModel):
    result: list[FeeResult]


class FeeLineRef(WireModel):
    """2205's ``data``: ``chrg_bchno`` cancels the unsettled lines of one charge batch, and the
    national "0000" every unsettled line of the visit; ``feedetl_sn`` cancels one line."""

    mdtrt_id: Code
    psn_no: Code
    chrg_bchno: Omittable[Code] = Field(
        default=None, description='the charge batch to cancel; "0000": every line'
    )
    feedetl_sn: Omittable[Code] = Field(default=None, description="one line")


class CancelFeesIn(WireModel):
    data: FeeLineRef


# --- 2206 pre-settle, 2207 settle, 2208 revoke ---------------------------------------------------


class SettleData(WireModel):
    """2206/2207's ``data``. ``medfee_sumamt``, ``psn_setlway`` and, when given, ``chrg_bchno``
    and the split figures are the HIS's own, checked against the engine's before anything is
    settled."""

    psn_no: Code
    mdtrt_cert_type: MdtrtCertType
    mdtrt_cert_no: Omittable[MdtrtCertNo] = None
    med_type: MedType
    medfee_sumamt: Yuan
    psn_setlway: Annotated[str, Field(pattern=r"^[0-9]{2}$")] = Field(
        description="01 by item (the engine's), 02 by fixed amount"
    )
    mdtrt_id: Code
    chrg_bchno: Omittable[Code] = Field(
        default=None, description="when given, the batch of every fee line of the visit"
    )
    insutype: Omittable[Insutype] = None
    acct_used_flag: Flag
    invono: Note = None
    mid_setl_flag: Note = None
    fulamt_ownpay_amt: Omittable[Yuan] = None
    overlmt_selfpay: Omittable[Yuan] = None
    preselfpay_amt: Omittable[Yuan] = None
    inscp_scp_amt: Omittable[Yuan] = None
    pub_hosp_rfom_flag: Note = None
    exp_content: Note = None


class SettleIn(WireModel):
    data: SettleData


class SetlInfo(BaseModel):
    """The settlement's figures as /v1 gives them; ``setl_id`` is null for a pre-settlement."""

    setl_id: str | None
    mdtrt_id: str
    psn_no: str
    insutype: str
    med_type: str
    psn_setlway: Literal["01"]
    clr_type: ClrType
    clr_way: str
    setl_time: str
    refd_setl_flag: Flag
    acct_used_flag: Flag
    medfee_sumamt: Yuan
    fulamt_ownpay_amt: Yuan
    overlmt_selfpay: Yuan
    preselfpay_amt: Yuan
    inscp_scp_amt: Yuan
    act_pay_dedc: Yuan
    hifp_pay: Yuan
    cvlserv_pay: Yuan
    hifes_pay: Yuan
    hifmi_pay: Yuan
    hifob_pay: Yuan
    maf_pay: Yuan
    oth_pay: Yuan
    fund_pay_sumamt: Yuan
    psn_part_amt: Yuan
    acct_pay: Yuan
    psn_cash_pay: Yuan
    balc: Yuan


class SetlDetail(BaseModel):
    fund_pay_type: str
    inscp_scp_amt: Yuan
    crt_payb_lmt_amt: Yuan
    fund_payamt: Yuan
    setl_proc_info: str


class SettlementOut(BaseModel):
    setlinfo: SetlInfo
    setldetail: list[SetlDetail]


class RevokeRef(WireModel):
    setl_id: Code
    mdtrt_id: Code
    psn_no: Code
    exp_content: Note = None


class RevokeIn(WireModel):
    data: RevokeRef


# --- 3201 reconcile totals, 3202 reconcile details, 3203 apply for clearing -----------------------

#: The most rows a 3202 envelope carries inline.
MAX_INLINE_DETAIL = 5000


class TotalsData(WireModel):
    insutype: Insutype
    clr_type: ClrType
    setl_optins: Omittable[Region] = Field(default=None, description="the clearing region")
    stmt_begndate: CalendarDate
    stmt_enddate: CalendarDate
    medfee_sumamt: Yuan
    fund_pay_sumamt: Yuan
    acct_pay: Yuan
    cash_payamt: Omittable[Yuan] = None
    fixmedins_setl_cnt: Annotated[ParameterInt, Field(ge=0, le=100_000_000)]


class TotalsIn(WireModel):
    data: TotalsData


class StmtInfo(BaseModel):
    setl_optins: str | None
    stmt_rslt: Literal["0", "1"] = Field(description="0 balanced, 1 not")
    stmt_rslt_dscr: str


class TotalsOut(BaseModel):
    stmtinfo: StmtInfo


class DetailRow(WireModel):
    """One settlement of the HIS's 3202 detail file: the file's columns, as members."""

    setl_id: Code
    mdtrt_id: Code
    psn_no: Code
    medfee_sumamt: Yuan
    fund_pay_sumamt: Yuan
    acct_pay: Yuan
    refd_setl_flag: Flag


class DetailScopeData(WireModel):
    """3202's ``data``: the period (and optionally insutype and clr_type) the detail covers."""

    setl_optins: Omittable[Region] = Field(default=None, description="the clearing region")
    file_qury_no: Note = None
    stmt_begndate: CalendarDate
    stmt_enddate: CalendarDate
    insutype: Omittable[Insutype] = None
    clr_type: Omittable[ClrType] = None
    medfee_sumamt: Omittable[Yuan] = None
    fund_pay_sumamt: Omittable[Yuan] = None
    cash_payamt: Omittable[Yuan] = None
    fixmedins_setl_cnt: Omittable[ParameterInt] = None
    refd_setl_flag: Omittable[Flag] = None


class DetailIn(WireModel):
    """3202 with its detail file inline: the rows the national platform takes as an uploaded
    file (``file_qury_no``) come in ``detail``; a larger file goes to the /v1 CSV upload."""

    data: DetailScopeData
    detail: list[DetailRow] = Field(max_length=MAX_INLINE_DETAIL)


class DetailMismatch(BaseModel):
    setl_id: str
    kinds: list[str]


class DetailOut(BaseModel):
    stmtinfo: StmtInfo
    recon_id: str = Field(description="the reconciliation, readable at /v1")
    mismatches: list[DetailMismatch]
    mismatches_truncated: bool


class ClearingData(WireModel):
    """3203's ``data``. The month's figures are the engine's own, fixed when the insurer
    approves the batch; figures the HIS sends with the application are not compared."""

    clr_type: ClrType
    clr_way: Note = None
    setlym: Annotated[str, Field(pattern=r"^20[0-9]{2}(0[1-9]|1[0-2])$")]
    psntime: Omittable[ParameterInt] = None
    medfee_sumamt: Omittable[Yuan] = None
    med_sumfee: Omittable[Yuan] = None
    fund_appy_sum: Omittable[Yuan] = None
    cash_payamt: Omittable[Yuan] = None
    acct_pay: Omittable[Yuan] = None
    begndate: Omittable[CalendarDate] = None
    enddate: Omittable[CalendarDate] = None


class ClearingIn(WireModel):
    data: ClearingData


class ClearingApplied(BaseModel):
    clr_appy_evt_id: str
    clr_stas: Literal["applied", "approved"]


class ClearingOut(BaseModel):
    data: ClearingApplied
