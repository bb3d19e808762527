"""A dispensation (one ``dspe_seq`` of a prescription) as FHIR R4 MedicationDispenses: one per
dispensed line, answered together as a Bundle, each pointing at the MedicationRequest of the
same drug and, when the viewer may see it, at the settlement that paid for it (ClaimResponse).

Another pharmacy's dispensation shows only what the prescriptions read shows of it (when and how
much, not who, nor the settlement).
"""

from __future__ import annotations

from fhir_export.medication_request import request_id
from fhir_export.terms import Resource, instant, national, quantity, reference
from prescriptions.schemas import DispenseLineOut, DispenseRecord, PrescriptionRead


def dispense_id(hi_rxno: str, dspe_seq: int) -> str:
    """The id a dispensation is read by: ``<hi_rxno>-<dspe_seq>``."""
    return f"{hi_rxno}-{dspe_seq}"


def _prescribed_line(rx: PrescriptionRead, med_list_codg: str) -> int:
    """The 1-based drug line of ``rx`` a dispensed drug was prescribed on (the engine refuses
    to dispense a drug the prescription does not name)."""
    codes = [line["med_list_codg"] for line in rx.document["rxdrugdetail"]]
    return codes.index(med_list_codg) + 1


def _dispense(
    rx: PrescriptionRead, record: DispenseRecord, line_no: int, line: DispenseLineOut
) -> Resource:
    prescribed = request_id(rx.hi_rxno, _prescribed_line(rx, line.med_list_codg))
    resource: Resource = {
        "resourceType": "MedicationDispense",
        "id": f"{dispense_id(rx.hi_rxno, record.dspe_seq)}-{line_no}",
        "status": "completed",
        "medicationCodeableConcept": national("med_list_codg", line.med_list_codg),
        "subject": reference("Patient", "psn_no", rx.psn_no),
        "authorizingPrescription": [{"reference": f"MedicationRequest/{prescribed}"}],
        "quantity": quantity(line.cnt),
        "whenHandedOver": instant(record.dspe_time),
    }
    if record.fixmedins_code is not None:
        resource["performer"] = [
            {"actor": reference("Organization", "fixmedins_code", record.fixmedins_code)}
        ]
    if record.setl_id is not None:
        resource["supportingInformation"] = [{"reference": f"ClaimResponse/{record.setl_id}"}]
    return resource


def medication_dispenses(rx: PrescriptionRead, record: DispenseRecord) -> list[Resource]:
    """The MedicationDispenses of one dispensation of ``rx``, as ``rx``'s viewer sees it."""
    return [_dispense(rx, record, n, line) for n, line in enumerate(record.lines, start=1)]
