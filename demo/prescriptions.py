"""The demo's e-prescriptions (domain.md section 9), through the real API: the demo hospitals issue
prescriptions from their settled visits of chronic patients, signed with the demo doctors' private
keys (demo.reference); the hospital pharmacist reviews them; they are routed to the nominated demo
pharmacy or presented by the patient at an open one; the pharmacies pull, lock, dispense and settle
them (med_type 41). One upload is refused (a 5-day validity), one review rejects, one prescription
is revoked by its doctor, a few are never picked up and expire.

The prescriptions are issued now (the visits are in the past month), as a follow-up prescription
would be. The ones left to expire are valid for a few seconds only, so the demo sees them lapse;
it reads them back afterwards, which is an access, and every access checks expiry.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from rich.table import Table

from demo.claims import CHRONIC, ClaimsReport, Insured
from demo.client import Client
from demo.reference import DemoPractitioner, ReferenceData
from engine.clock import CST
from engine.terminal import money
from prescriptions.signing import sign

# DEMO DATA: what a chronic patient takes for each condition, and the pharmacies' sale price.
# condition: (med_list_codg, drug_genname, drug_spec, unit, pharmacy price per unit)
FORMULARY: Final[dict[str, tuple[str, str, str, str, str]]] = {
    "I10": ("XC08CA01D002", "苯磺酸氨氯地平片", "5mg×28片", "盒", "3.20"),
    "E11": ("XA10BA02D002", "盐酸二甲双胍缓释片", "0.5g×30片", "盒", "11.50"),
    "J45": ("XR03AC02D001", "硫酸沙丁胺醇吸入气雾剂", "100μg×200揿", "支", "24.00"),
}
#: Seconds the prescriptions left to expire are valid for.
SHORT_VALIDITY: Final = 8
INTERNET_PRACTICE_YEARS: Final = 3


@dataclass
class PrescriptionReport:
    uploaded: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    voided: int = 0
    routed: int = 0
    presented: int = 0
    dispensed: int = 0
    repeat_portions: int = 0
    revoked: int = 0
    expired: int = 0
    medfee_sumamt: Decimal = Decimal("0")
    fund_pay_sumamt: Decimal = Decimal("0")

    def table(self) -> Table:
        table = Table(title="E-prescription circulation", show_header=False)
        table.add_row("prescriptions uploaded (signed, verified)", str(self.uploaded))
        for code, count in sorted(self.refused.items()):
            table.add_row(f"refused at upload: {code}", str(count))
        table.add_row("rejected in review (voided, 4)", str(self.voided))
        table.add_row("routed to a nominated pharmacy", str(self.routed))
        table.add_row("presented at an open pharmacy (trace code + ID)", str(self.presented))
        table.add_row("dispensed and settled (med_type 41)", str(self.dispensed))
        table.add_row(
            "  of which first portions of repeat prescriptions", str(self.repeat_portions)
        )
        table.add_row("revoked by the doctor (3)", str(self.revoked))
        table.add_row("expired, never picked up (2)", str(self.expired))
        table.add_row("pharmacy medfee_sumamt", money(self.medfee_sumamt))
        table.add_row("pharmacy fund_pay_sumamt", money(self.fund_pay_sumamt))
        return table


@dataclass(frozen=True)
class _Plan:
    """What happens to one prescription."""

    outcome: str  # dispense, expire, revoke, reject, refuse
    open: bool = False
    repeat: bool = False


def _plans(count: int) -> list[_Plan]:
    special = [
        _Plan("refuse"),
        _Plan("reject"),
        _Plan("revoke"),
        _Plan("expire"),
        _Plan("expire", open=True),
        _Plan("dispense", repeat=True),
    ]
    ordinary = [_Plan("dispense", open=i % 3 == 0) for i in range(max(count - len(special), 0))]
    return special + ordinary


def _qualified(doctors: list[DemoPractitioner], on: datetime) -> DemoPractitioner:
    """A doctor who may prescribe from any visit, in person or online (互联网诊疗管理办法（试行）:
    internet practice and at least 3 years of independent practice)."""
    cutoff = on.date().replace(year=on.year - INTERNET_PRACTICE_YEARS)
    return next(d for d in doctors if d.internet_practice and d.indep_prac_start <= cutoff)


def _document(
    hosp_rxno: str, visit: dict[str, Any], person: Insured, doctor: DemoPractitioner, plan: _Plan
) -> dict[str, Any]:
    assert person.condition is not None
    issued = datetime.now(CST).replace(microsecond=0)
    if plan.outcome == "expire":
        end = issued + timedelta(seconds=SHORT_VALIDITY)
    elif plan.outcome == "refuse":
        end = (issued + timedelta(days=4)).replace(hour=23, minute=59, second=59)
    else:
        end = (issued + timedelta(days=2)).replace(hour=23, minute=59, second=59)
    code, name, spec, unit, _ = FORMULARY[person.condition]
    diag_code, diag_name = CHRONIC[person.condition]
    doc: dict[str, Any] = {
        "hosp_rxno": hosp_rxno,
        "fixmedins_code": visit["fixmedins_code"],
        "mdtrt_id": visit["mdtrt_id"],
        "psn_no": person.psn_no,
        "dr_code": doctor.dr_code,
        "rx_type_code": "1",
        "prsc_time": issued.isoformat(),
        "vali_days": (end.date() - issued.date()).days + 1,
        "vali_end_time": end.isoformat(),
        "chro_dise_flag": "1",
        "diseinfo": [
            {"maindiag_flag": "1", "diag_srt_no": 1, "diag_code": diag_code, "diag_name": diag_name}
        ],
        "rxdrugdetail": [
            {
                "med_list_codg": code,
                "drug_genname": name,
                "drug_spec": spec,
                "drug_cnt": "3" if plan.repeat else "1",
                "drug_cnt_unit": unit,
                "medc_days": 84 if plan.repeat else 7,
            }
        ],
    }
    if plan.repeat:
        doc |= {
            "long_rx_flag": "1",
            "rept_flag": "1",
            "max_rept_cnt": 3,
            "min_inrv_days": 28,
            "stab_cond_flag": "1",
        }
    return doc


@dataclass
class _Run:
    hospitals: dict[str, Client]
    pharmacies: dict[str, Client]
    report: PrescriptionReport
    expiring: list[tuple[Client, str, float]] = field(default_factory=list)


def _dispense(run: _Run, pharmacy: Client, rx: dict[str, Any], *, repeat: bool) -> None:
    """Pull, lock, dispense and settle one portion at the pharmacy's price."""
    hi_rxno = rx["hi_rxno"]
    pharmacy.post(f"/v1/prescriptions/{hi_rxno}/lock", json={"lease_seconds": 300})
    line = rx["document"]["rxdrugdetail"][0]
    condition = next(c for c, f in FORMULARY.items() if f[0] == line["med_list_codg"])
    dispensed = pharmacy.post(
        f"/v1/prescriptions/{hi_rxno}/dispensations",
        idempotent=True,
        expect=201,
        json={
            "dspe_lines": [
                {
                    "med_list_codg": line["med_list_codg"],
                    "cnt": "1",
                    "pric": FORMULARY[condition][4],
                    "manu_lotnum": f"LOT{datetime.now(UTC):%Y%m}",
                    "drug_trac_codg": [f"8{uuid.uuid4().int % 10**19:019d}"],
                }
            ],
            "acct_used_flag": True,
        },
    )
    run.report.dispensed += 1
    run.report.repeat_portions += repeat
    run.report.medfee_sumamt += Decimal(dispensed["settlement"]["medfee_sumamt"])
    run.report.fund_pay_sumamt += Decimal(dispensed["settlement"]["fund_pay_sumamt"])


def _circulate(
    run: _Run,
    uploaded: dict[str, Any],
    person: Insured,
    doctor: DemoPractitioner,
    plan: _Plan,
    pharmacy_code: str,
) -> None:
    hospital = run.hospitals[doctor.fixmedins_code]
    hi_rxno = uploaded["hi_rxno"]
    review = {"phar_code": "PH0001", "phar_name": "审方药师"}
    if plan.outcome == "reject":
        hospital.post(
            f"/v1/prescriptions/{hi_rxno}/review",
            json=review | {"rvw_rslt": "rejected", "rvw_opnn": "用量与诊断不符"},
        )
        run.report.voided += 1
        return
    hospital.post(f"/v1/prescriptions/{hi_rxno}/review", json=review | {"rvw_rslt": "approved"})
    if plan.outcome == "revoke":
        hospital.post(
            f"/v1/prescriptions/{hi_rxno}/revocation",
            json={"dr_code": doctor.dr_code, "revoke_reason": "患者病情变化，停用"},
        )
        run.report.revoked += 1
        return
    pharmacy = run.pharmacies[pharmacy_code]
    if plan.open:
        pharmacy.post(
            "/v1/prescriptions/presentations",
            json={
                "rx_trace_code": uploaded["rx_trace_code"],
                "mdtrt_cert_type": "02",
                "mdtrt_cert_no": person.certno,
            },
        )
        run.report.presented += 1
    else:
        run.report.routed += 1
    if plan.outcome == "expire":
        deadline = datetime.fromisoformat(uploaded["vali_end_time"]).timestamp()
        run.expiring.append((hospital, hi_rxno, deadline))
        return
    listed = pharmacy.get("/v1/prescriptions", params={"limit": 200})["items"]
    assert any(item["hi_rxno"] == hi_rxno for item in listed)
    _dispense(run, pharmacy, pharmacy.get(f"/v1/prescriptions/{hi_rxno}"), repeat=plan.repeat)


def _count_expired(run: _Run) -> None:
    """Wait out the short validities, then read those prescriptions back (an access: expiry is
    checked on every one, besides the periodic job)."""
    if not run.expiring:
        return
    time.sleep(max(0.0, max(deadline for *_, deadline in run.expiring) - time.time() + 1))
    for hospital, hi_rxno, _ in run.expiring:
        shown = hospital.get(f"/v1/prescriptions/{hi_rxno}")
        run.report.expired += shown["rx_stas_codg"] == "2"


def run_prescriptions(
    hospitals: dict[str, Client],
    pharmacies: dict[str, Client],
    ref: ReferenceData,
    claims: ClaimsReport,
    *,
    rng: random.Random,
    prescribed: Callable[[], None],
    count: int = 16,
) -> PrescriptionReport:
    """Prescriptions from up to ``count`` settled visits of chronic patients, through review,
    routing or presentation, lock and dispense, calling ``prescribed`` after each; returns what
    happened, for the demo's report. Waiting for the short-validity ones to expire comes last."""
    people = {p.psn_no: p for p in claims.people if p.condition in FORMULARY}
    visits = [
        s
        for s in claims.settlements
        if s["status"] == "settled" and s["psn_no"] in people and s["fixmedins_code"] in hospitals
    ]
    chosen = sorted(visits, key=lambda s: str(s["setl_time"]), reverse=True)[:count]
    run = _Run(hospitals, pharmacies, PrescriptionReport())
    now = datetime.now(CST)
    for index, (visit, plan) in enumerate(zip(chosen, _plans(len(chosen)), strict=False)):
        person = people[visit["psn_no"]]
        doctor = _qualified(ref.practitioners_at(visit["fixmedins_code"]), now)
        doc = _document(f"RX{now:%Y%m%d}{index:04d}", visit, person, doctor, plan)
        body = doc | {
            "signature": sign(doc, doctor.private_key).model_dump(mode="json", exclude_none=True)
        }
        pharmacy_code = rng.choice(sorted(pharmacies))
        if not plan.open:
            body["nomi_fixmedins_code"] = pharmacy_code
        hospital = hospitals[visit["fixmedins_code"]]
        if plan.outcome == "refuse":
            refused = hospital.post("/v1/prescriptions", json=body, expect=400)
            run.report.refused[refused["code"]] += 1
        else:
            uploaded = hospital.post("/v1/prescriptions", json=body, expect=201)
            run.report.uploaded += 1
            _circulate(run, uploaded, person, doctor, plan, pharmacy_code)
        prescribed()
    _count_expired(run)
    return run.report
