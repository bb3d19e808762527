"""The refusals of the prescription endpoints, as the published contract documents them: each
status with its stable code and when it is answered."""

from __future__ import annotations

from engine.openapi import Refusal
from prescriptions.rules import Reason

UNKNOWN_PRESCRIPTION = Refusal(
    404,
    "unknown_prescription",
    "no prescription with this number (or trace code) the caller may open",
)
NOT_A_DESIGNATED_PHARMACY = Refusal(
    403, "not_a_designated_pharmacy", "the pharmacy is not designated for e-prescriptions"
)
TOO_MANY_ATTEMPTS = Refusal(
    429,
    "too_many_attempts",
    "this window's presentations by the pharmacy (field null) or of the trace code "
    "(field `rx_trace_code`) are used up; `Retry-After` says when the window ends",
)
DUPLICATE_PRESCRIPTION = Refusal(
    409, "duplicate_prescription", "the hospital uploaded this prescription number before"
)
PATIENT_MISMATCH = Refusal(400, "patient_mismatch", "the patient is not the visit's")
VALIDITY_OVER = Refusal(
    400, "prescription_expired", "the validity ends before it begins or is already over"
)
PRSC_TIME_IN_FUTURE = Refusal(400, "prsc_time_in_future", "a prescribing time later than now")
UNKNOWN_PHARMACY = Refusal(
    400, "unknown_pharmacy", "the nominated pharmacy is not registered in the region"
)
OPINION_REQUIRED = Refusal(400, "opinion_required", "a rejection gives the pharmacist's opinion")
PRESCRIPTION_DISPENSED = Refusal(
    409,
    "prescription_dispensed",
    "a portion is dispensed: the prescription can no longer be revoked",
)
INVALID_SIGNATURE = Refusal(
    400, "invalid_signature", "the signature does not verify against the doctor's registered key"
)
UNSUPPORTED_SIGNATURE_SCHEME = Refusal(
    400, "unsupported_signature_scheme", "a signature scheme the engine does not verify"
)
UNSIGNABLE_DOCUMENT = Refusal(
    400, "unsignable_document", "the prescription cannot be put in canonical form to verify"
)
NOT_LOCK_HOLDER = Refusal(409, "not_lock_holder", "another pharmacy (or none) holds the lock")
PRESCRIPTION_LOCKED = Refusal(409, "prescription_locked", "another pharmacy holds the lock")
INVALID_CURSOR = Refusal(400, "invalid_cursor", "the cursor is not one this listing issued")
UNKNOWN_VISIT = Refusal(
    404, "unknown_visit", "the visit the prescription names is not one of the hospital's"
)
DRUG_NOT_PRESCRIBED = Refusal(
    400, "drug_not_prescribed", "a dispensed drug is not on the prescription"
)
DUPLICATE_LINE = Refusal(400, "duplicate_line", "a drug is dispensed twice in one dispense")
DUPLICATE_TRACE_CODE = Refusal(400, "duplicate_trace_code", "a drug trace code is given twice")
TRACE_CODE_DISPENSED = Refusal(
    409, "duplicate_trace_code", "a drug trace code was dispensed before"
)
QUANTITY_EXCEEDS_PRESCRIPTION = Refusal(
    400, "quantity_exceeds_prescription", "more than the prescription (or this portion) allows"
)
REPEAT_INTERVAL_NOT_MET = Refusal(
    409, "repeat_interval_not_met", "the next portion of a repeat prescription is not due yet"
)

#: A prescription (or a dispense) breaking a prescribing rule: 400 with the first rule's code.
RULE_VIOLATIONS = tuple(
    Refusal(400, reason.value, "the prescription breaks this prescribing rule") for reason in Reason
)
#: The states that forbid a change, as ``records.require_status`` names them.
NOT_REVIEWED = Refusal(409, "prescription_not_reviewed", "the prescription is waiting for review")
REVIEWED = Refusal(409, "prescription_reviewed", "the prescription was already reviewed")
DISPENSE_LIMIT_REACHED = Refusal(
    409, "dispense_limit_reached", "every portion of the prescription is dispensed"
)
EXPIRED = Refusal(409, "prescription_expired", "the prescription is past its validity")
REVOKED = Refusal(409, "prescription_revoked", "the prescription was revoked by the doctor")
VOIDED = Refusal(409, "prescription_voided", "the prescription was rejected in review")
NO_LONGER_LIVE = (DISPENSE_LIMIT_REACHED, EXPIRED, REVOKED, VOIDED)
STATE_CONFLICTS = (NOT_REVIEWED, REVIEWED, *NO_LONGER_LIVE)
#: A purchase the patient's insured place pays nothing for (docs/cross-region.md); ``field`` is
#: ``hi_rxno``.
INSURANCE_REFUSED = (
    Refusal(400, "no_benefit_policy", "no benefit policy of the insured place covers the purchase"),
    Refusal(
        400,
        "cross_region_not_covered",
        "the insured place's policy does not pay for this purchase in another region (unfiled, "
        "or a filing type it has no terms for)",
    ),
)
