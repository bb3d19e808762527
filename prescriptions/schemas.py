"""The prescription wire contract (pydantic v2), with the national field names of DOMAIN.md
section 9 and docs/prescriptions.md.

The upload keeps the JSON types the doctor signed (docs/prescriptions.md section 1): codes, flags,
times and decimal quantities are strings, day counts are integers, and nothing is coerced, so the
parsed body dumped with ``exclude_none`` gives back exactly the signed values. Optional members
default to ``None`` (absent), never to a value the doctor did not sign.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from claims.schemas import IcdCode, SettlementOut
from prescriptions.signing import Signature

Flag = Literal["0", "1"]
Code = Annotated[StrictStr, Field(min_length=1, max_length=30)]
Text = Annotated[StrictStr, Field(min_length=1, max_length=100)]
# A decimal quantity as the national platform sends it: "3", "3.5", at most 4 decimals.
DecimalText = Annotated[StrictStr, Field(pattern=r"^(0|[1-9][0-9]{0,7})(\.[0-9]{1,4})?$")]
# Day counts and counters: integers, bounded only against absurd values (the rules judge them).
Count = Annotated[StrictInt, Field(ge=0, le=100_000)]


def _aware_time(value: str) -> str:
    """An ISO 8601 time with its offset, kept as written (the signature covers the text)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise ValueError("the time needs its UTC offset, e.g. +08:00")
    return value


Time = Annotated[StrictStr, Field(max_length=40), AfterValidator(_aware_time)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- upload (hospital) ---------------------------------------------------------------------------


class DiagnosisDoc(Strict):
    """One diagnosis (``diseinfo``); its code is settled again at the pharmacy (med_type 41)."""

    diag_type: Annotated[StrictStr, Field(max_length=3)] | None = None
    maindiag_flag: Flag | None = None
    diag_srt_no: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    diag_code: IcdCode
    diag_name: Text


class DrugLineDoc(Strict):
    """One drug line (``rxdrugdetail``): ``drug_cnt`` is the whole prescription's quantity and
    ``medc_days`` the whole course, every portion of a repeat prescription included."""

    med_list_codg: Annotated[StrictStr, Field(min_length=1, max_length=50)]
    drug_genname: Text | None = None
    drug_spec: Text | None = None
    drug_dosform: Text | None = None
    drug_cnt: DecimalText
    drug_cnt_unit: Annotated[StrictStr, Field(max_length=20)] | None = None
    sin_doscnt: DecimalText | None = None
    sin_dosunt: Annotated[StrictStr, Field(max_length=20)] | None = None
    used_frqu_codg: Annotated[StrictStr, Field(max_length=20)] | None = None
    used_frqu_name: Text | None = None
    medc_way_codg: Annotated[StrictStr, Field(max_length=20)] | None = None
    medc_way_dscr: Text | None = None
    medc_days: Count


class RxUpload(Strict):
    """7101-style upload: the signed document, its signature, and the patient's routing choice."""

    hosp_rxno: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    fixmedins_code: Code
    mdtrt_id: Code
    psn_no: Code
    dr_code: Code
    rx_type_code: Annotated[StrictStr, Field(pattern=r"^[0-9]{1,2}$")]
    prsc_time: Time
    vali_days: Count
    vali_end_time: Time
    long_rx_flag: Flag | None = None
    rept_flag: Flag | None = None
    max_rept_cnt: Count | None = None
    min_inrv_days: Count | None = None
    emer_flag: Flag | None = None
    chro_dise_flag: Flag | None = None
    stab_cond_flag: Flag | None = None
    extd_days_rsn: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = None
    diseinfo: list[DiagnosisDoc] = Field(min_length=1, max_length=20)
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
    rx_trace_code: str = Field(
        description="shown once: the patient presents it (with their ID) at an open pharmacy"
    )
    rx_stas_codg: str
    status: str
    vali_end_time: datetime


class ReviewIn(Strict):
    """The hospital pharmacist's review (处方审核): only an approved prescription circulates."""

    rvw_rslt: Literal["approved", "rejected"]
    rvw_opnn: Annotated[StrictStr, Field(min_length=1, max_length=500)] | None = Field(
        default=None, description="the pharmacist's opinion; required to reject"
    )
    phar_code: Code
    phar_name: Annotated[StrictStr, Field(min_length=1, max_length=50)]


class RevokeIn(Strict):
    dr_code: Code = Field(description="the prescribing doctor: only they may revoke")
    revoke_reason: Annotated[StrictStr, Field(min_length=1, max_length=500)]


# --- circulation (pharmacy) ----------------------------------------------------------------------


class PresentIn(Strict):
    """The patient presents an open prescription at a pharmacy: trace code plus their resident
    ID card (02) or social security card (03), which carry the resident ID."""

    rx_trace_code: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    mdtrt_cert_type: Literal["02", "03"]
    mdtrt_cert_no: Annotated[StrictStr, Field(min_length=1, max_length=64)]


class LockIn(Strict):
    lease_seconds: int = Field(default=900, ge=60, le=3600, description="the lock's lease")


class LockOut(BaseModel):
    hi_rxno: str
    lock_holder: str
    lock_expires_at: datetime


class DispenseLineIn(Strict):
    med_list_codg: str = Field(min_length=1, max_length=50)
    cnt: Decimal = Field(gt=0, max_digits=12, decimal_places=4)
    pric: Decimal = Field(ge=0, max_digits=14, decimal_places=4, description="the sale price")
    manu_lotnum: str = Field(min_length=1, max_length=50, description="lot number")
    drug_trac_codg: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=500, description="the trace code of every package handed out"
    )


class DispenseIn(Strict):
    dspe_lines: list[DispenseLineIn] = Field(min_length=1, max_length=50)
    acct_used_flag: bool = False
    phar_code: Code | None = None
    phar_name: Annotated[str, Field(min_length=1, max_length=50)] | None = None


class DispenseLineOut(BaseModel):
    med_list_codg: str
    cnt: Decimal
    pric: Decimal | None = None
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
