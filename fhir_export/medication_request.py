"""A signed prescription as FHIR R4 MedicationRequests: one per drug line (``rxdrugdetail``), a
MedicationRequest naming one medication, grouped by ``groupIdentifier`` = ``hi_rxno`` and
answered together as a Bundle (``terms.collection``).

Everything clinical comes from the signed document the pharmacy dispenses against (verified on
the way out by the prescriptions read); the status is the engine's state of the prescription,
with the national ``rx_stas_codg`` as the status reason. ``hosp_rxno`` is the hospital's own
number, unique only within it, so its identifier names the hospital as assigner.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from fhir_export.terms import (
    Resource,
    days,
    identifier,
    national,
    quantity,
    reference,
)
from prescriptions.schemas import PrescriptionRead

#: The engine's prescription status -> MedicationRequest.status.
STATUS: Final = {
    "pending_review": "draft",
    "circulating": "active",
    "dispensed": "completed",
    "expired": "stopped",
    "revoked": "cancelled",
    "voided": "cancelled",
}


def request_id(hi_rxno: str, line_no: int) -> str:
    """The MedicationRequest id of drug line ``line_no`` (1-based) of ``hi_rxno``."""
    return f"{hi_rxno}-{line_no}"


def _dosage(line: Mapping[str, Any]) -> Resource:
    dosage: Resource = {}
    text = " ".join(str(line[k]) for k in ("used_frqu_name", "medc_way_dscr") if k in line)
    if text:
        dosage["text"] = text
    if "used_frqu_codg" in line:
        dosage["timing"] = {
            "code": national("used_frqu_codg", line["used_frqu_codg"], line.get("used_frqu_name"))
        }
    if "medc_way_codg" in line:
        dosage["route"] = national(
            "medc_way_codg", line["medc_way_codg"], line.get("medc_way_dscr")
        )
    if "sin_doscnt" in line:
        dose = quantity(Decimal(line["sin_doscnt"]), line.get("sin_dosunt"))
        dosage["doseAndRate"] = [{"doseQuantity": dose}]
    return dosage


def _dispense_request(rx: PrescriptionRead, line: Mapping[str, Any]) -> Resource:
    request: Resource = {
        "validityPeriod": {"start": rx.document["prsc_time"], "end": rx.document["vali_end_time"]},
        "quantity": quantity(Decimal(line["drug_cnt"]), line.get("drug_cnt_unit")),
        "expectedSupplyDuration": days(line["medc_days"]),
    }
    if rx.nomi_fixmedins_code is not None:
        request["performer"] = reference("Organization", "fixmedins_code", rx.nomi_fixmedins_code)
    return request


def _request(rx: PrescriptionRead, line_no: int, line: Mapping[str, Any]) -> Resource:
    doc = rx.document
    return {
        "resourceType": "MedicationRequest",
        "id": request_id(rx.hi_rxno, line_no),
        "identifier": [
            identifier("hosp_rxno", rx.hosp_rxno)
            | {"assigner": reference("Organization", "fixmedins_code", rx.fixmedins_code)}
        ],
        "groupIdentifier": identifier("hi_rxno", rx.hi_rxno),
        "status": STATUS[rx.status],
        "statusReason": national("rx_stas_codg", rx.rx_stas_codg),
        "intent": "order",
        "medicationCodeableConcept": national(
            "med_list_codg", line["med_list_codg"], line.get("drug_genname")
        ),
        "subject": reference("Patient", "psn_no", rx.psn_no),
        "encounter": reference("Encounter", "mdtrt_id", rx.mdtrt_id),
        "authoredOn": doc["prsc_time"],
        "requester": reference("Practitioner", "dr_code", rx.dr_code),
        "reasonCode": [
            national("diag_code", d["diag_code"], d.get("diag_name")) for d in doc["diseinfo"]
        ],
        "dosageInstruction": [_dosage(line)],
        "dispenseRequest": _dispense_request(rx, line),
    }


def medication_requests(rx: PrescriptionRead) -> list[Resource]:
    """The MedicationRequests of a prescription read through ``prescriptions.circulation``."""
    return [_request(rx, n, line) for n, line in enumerate(rx.document["rxdrugdetail"], start=1)]
