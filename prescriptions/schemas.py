"""The prescription wire contract (pydantic v2), with the national field names of docs/domain.md
section 9 and docs/prescriptions.md.

The upload keeps the JSON types the doctor signed (docs/prescriptions.md section 1): codes, flags,
times and decimal quantities are strings, day counts are integers, and nothing is coerced, so the
parsed body dumped with ``exclude_none`` gives back exactly the signed values. Optional members
default to ``None`` (absent), never to a value the doctor did not sign.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictInt
from pydantic_core import PydanticCustomError

from claims.settlement.door.visits import IcdCode, SettlementOut
from engine.wire import (
    Code,
    Count,
    EventTimeText,
    Flag,
    Identifier,
    MdtrtCertNo,
    MdtrtCertType,
    Quantity,
    QuantityText,
    RxTypeCode,
    Text,
    TimeText,
    UnitPrice,
    WireBool,
    WireModel,
)
from prescriptions.signing import Signature

Name = Annotated[Text, Field(max_length=100)]


# --- upload (hospital) ---------------------------------------------------------------------------


class DiagnosisDoc(WireModel):
    """One diagnosis (``diseinfo``); its code is settled again at the pharmacy (med_type 41)."""

    diag_type: Annotated[Identifier, Field(max_length=3)] | None = None
    maindiag_flag: Flag | None = None
    diag_srt_no: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    diag_code: IcdCode
    diag_name: Name


def _at_most_one_main_diagnosis(diseinfo: list[DiagnosisDoc]) -> list[DiagnosisDoc]:
    """A prescription names at most one main diagnosis (``maindiag_flag`` "1")."""
    if sum(1 for d in diseinfo if d.maindiag_flag == "1") > 1:
        raise PydanticCustomError(
            "main_diagnosis", "at most one diagnosis may be the main one (maindiag_flag 1)"
        )
    return diseinfo


class DrugLineDoc(WireModel):
    """One drug line (``rxdrugdetail``): ``drug_cnt`` is the whole prescription's quantity and
    ``medc_days`` the whole course, every portion of a repeat prescription included."""

    med_list_codg: Annotated[Identifier, Field(max_length=50)]
    drug_genname: Name | None = None
    drug_spec: Name | None = None
    drug_dosform: Name | None = None
    drug_cnt: QuantityText
    drug_cnt_unit: Annotated[Text, Field(max_length=20)] | None = None
    sin_doscnt: QuantityText | None = None
    sin_dosunt: Annotated[Text, Field(max_length=20)] | None = None
    used_frqu_codg: Annotated[Identifier, Field(max_length=20)] | None = None
    used_frqu_name: Name | None = None
    medc_way_codg: Annotated[Identifier, Field(max_length=20)] | None = None
    medc_way_dscr: Name | None = None
    medc_days: Count


class RxUpload(WireModel):
    """7101-style upload: the signed document, its signature, and the patient's routing choice."""

    hosp_rxno: Annotated[Identifier, Field(max_length=40)]
    fixmedins_code: Code
    mdtrt_id: Code
    psn_no: Code
    dr_code: Code
    rx_type_code: RxTypeCode
    prsc_time: EventTimeText
    vali_days: Count
    vali_end_time: TimeText
    long_rx_flag: Flag | None = None
    rept_flag: Flag | None = None
    max_rept_cnt: Count | None = None
    min_inrv_days: Count | None = None
    emer_flag: Flag | None = None
    chro_dise_flag: Flag | None = None
    stab_cond_flag: Flag | None = None
    extd_days_rsn: Annotated[Text, Field(max_length=200)] | None = None
    diseinfo: Annotated[
        list[DiagnosisDoc],
        Field(min_length=1, max_length=20),
        AfterValidator(_at_most_one_main_diagnosis),
    ]
    rxdrugdetail: list[DrugLineDoc] = Field(max_length=50)
    signature: Signature
    nomi_fixmedins_code: Code | None = Field(
        default=None,
        description="the pharmacy the patient nominated; absent: open to the region's pharmacies",
    )

    def document(self) -> dict[str, Any]:
        """The prescription document the doctor signed (everything but the envelope and the
        routing choice, absent members left out)."""
        return self.model_dump(
            mode="json", exclude_none=True, exclude={"signature", "nomi_fixmedins_code"}
        )


class RxUploadOut(BaseModel):
    hi_rxno: str
    rx_trace_code: str | None = Field(
        description=(
            "shown once: the patient presents it (with their ID) at an open pharmacy; null when "
            "the answer is a retried upload's (reissue it with POST /{hi_rxno}/trace-code)"
        )
    )
    rx_stas_codg: str
    status: str
    vali_end_time: datetime


class ReviewIn(WireModel):
    """The hospital pharmacist's review (处方审核): only an approved prescription circulates."""

    rvw_rslt: Literal["approved", "rejected"]
    rvw_opnn: Annotated[Text, Field(max_length=500)] | None = Field(
        default=None, description="the pharmacist's opinion; required to reject"
    )
    phar_code: Code
    phar_name: Annotated[Text, Field(max_length=50)]


class RevokeIn(WireModel):
    dr_code: Code = Field(description="the prescribing doctor: only they may revoke")
    revoke_reason: Annotated[Text, Field(max_length=500)]


# --- circulation (pharmacy) ----------------------------------------------------------------------


class PresentIn(WireModel):
    """The patient presents an open prescription at a pharmacy: trace code plus their resident
    ID card (02) or social security card (03), which carry the resident ID, or their electronic
    insurance voucher token (01)."""

    rx_trace_code: Annotated[Identifier, Field(max_length=64)]
    mdtrt_cert_type: MdtrtCertType
    mdtrt_cert_no: MdtrtCertNo


class LockIn(WireModel):
    lease_seconds: StrictInt = Field(default=900, ge=60, le=3600, description="the lock's lease")


class LockOut(BaseModel):
    hi_rxno: str
    lock_holder: str
    lock_expires_at: datetime


class DispenseLineIn(WireModel):
    med_list_codg: Annotated[Identifier, Field(max_length=50)]
    cnt: Quantity
    pric: UnitPrice = Field(description="the sale price")
    manu_lotnum: Annotated[Text, Field(max_length=50)] = Field(description="lot number")
    drug_trac_codg: list[Annotated[Identifier, Field(max_length=100)]] = Field(
        min_length=1, max_length=500, description="the trace code of every package handed out"
    )


class DispenseIn(WireModel):
    dspe_lines: list[DispenseLineIn] = Field(min_length=1, max_length=50)
    acct_used_flag: WireBool = False
    phar_code: Code | None = None
    phar_name: Annotated[Text, Field(max_length=50)] | None = None


class DispenseLineOut(BaseModel):
    med_list_codg: str
    cnt: Quantity
    pric: UnitPrice | None = None
    manu_lotnum: str | None = None
    drug_trac_codg: list[str] | None = None


class DispenseRecord(BaseModel):
    """One dispensing as the viewer may see it: another pharmacy's code, price, lots and trace
    codes are left out."""

    dspe_seq: int
    dspe_time: datetime
    fixmedins_code: str | None
    setl_id: str | None
    lines: list[DispenseLineOut]


class DispenseOut(BaseModel):
    hi_rxno: str
    dspe_seq: int
    fixmedins_code: str
    dspe_time: datetime
    mdtrt_id: str
    rx_stas_codg: str
    status: str
    dspe_cnt: int
    max_rept_cnt: int
    lines: list[DispenseLineOut]
    settlement: SettlementOut


class PrescriptionOut(BaseModel):
    """A prescription as downloaded: the signed document and envelope (verified on the way out)
    and the engine's state."""

    hi_rxno: str
    hosp_rxno: str
    fixmedins_code: str
    mdtrt_id: str
    psn_no: str
    dr_code: str
    biz_type_code: str
    rx_stas_codg: str
    status: str
    route: Literal["nominated", "open"]
    nomi_fixmedins_code: str | None
    vali_end_time: datetime
    max_rept_cnt: int
    min_inrv_days: int
    dspe_cnt: int
    locked: bool
    lock_expires_at: datetime | None = Field(description="shown to the lock holder only")
    rvw_opnn: str | None
    reviewed_at: datetime | None
    document: dict[str, Any]
    signature: Signature
    dispenses: list[DispenseRecord]


class PrescriptionSummary(BaseModel):
    hi_rxno: str
    hosp_rxno: str
    fixmedins_code: str
    psn_no: str
    rx_stas_codg: str
    status: str
    via: str = Field(description="routed (nominated) or presented (by the patient)")
    granted_at: datetime
    vali_end_time: datetime
    dspe_cnt: int
    max_rept_cnt: int
    locked: bool


class PrescriptionPage(BaseModel):
    items: list[PrescriptionSummary]
    next_cursor: str | None


# --- presentation guard --------------------------------------------------------------------------


class PrescriptionRead(PrescriptionOut):
    """A prescription as downloaded, with the state of its trace code for the issuing hospital."""

    rx_trace_code_locked: bool | None = Field(
        default=None,
        description=(
            "issuing hospital only (null for pharmacies): the trace code is locked after too many"
            " wrong certificates, and opens nothing until the hospital reissues it"
        ),
    )


class TraceCodeOut(BaseModel):
    hi_rxno: str
    rx_trace_code: str = Field(
        description="shown once: replaces the previous trace code, which opens nothing any more"
    )
