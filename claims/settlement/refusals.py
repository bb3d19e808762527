"""The refusals of the settlement endpoints (policies, persons, visits, fee lines, settlement), as
the published contract documents them: each status with its stable code and when it is answered."""

from __future__ import annotations

from engine.openapi import Refusal

UNKNOWN_PERSON = Refusal(
    404,
    "unknown_person",
    "no insured person with this psn_no (or certificate) in the caller's region",
)
DUPLICATE_PERSON = Refusal(409, "duplicate_person", "a person with this psn_no is enrolled already")
DUPLICATE_CERTNO = Refusal(
    409, "duplicate_certno", "a person with this certificate number is enrolled already"
)
UNKNOWN_ASST_TYPE = Refusal(
    400, "unknown_asst_type", "the assistance category is not one of the region's"
)
DUPLICATE_CATEGORY = Refusal(400, "duplicate_category", "a benefit category is listed twice")
SHARED_ACCUMULATOR = Refusal(
    400, "shared_accumulator", "two categories would share one accumulator"
)
OPENING_AFTER_SETTLEMENT = Refusal(
    409,
    "opening_after_settlement",
    "the person has settlements this year: opening balances come first",
)
OPENING_ABOVE_CAP = Refusal(
    400, "opening_above_cap", "an opening figure above what the policy lets the accumulator reach"
)
OPENING_WITHOUT_POLICY = Refusal(
    400,
    "opening_without_policy",
    "an opening figure for a benefit no policy of the region covers that year",
)
OVERLAPPING_VERSION = Refusal(
    409, "overlapping_version", "a policy version overlaps one already loaded"
)
INVALID_BANDS = Refusal(400, "invalid_bands", "the policy's payment bands do not follow each other")
SPLIT_ACCUMULATOR = Refusal(
    409, "split_accumulator", "the load would split one accumulator between policies"
)
INVALID_VALIDITY = Refusal(
    400, "invalid_validity", "a version's validity period is empty or out of range"
)
TOO_MANY_ROWS = Refusal(400, "too_many_rows", "more policy rows than one load takes")
TIME_IN_FUTURE = Refusal(400, "time_in_future", "a time later than now")
TIME_WITHOUT_OFFSET = Refusal(400, "time_without_offset", "a time without its UTC offset")
DR_CODE_REQUIRED = Refusal(400, "dr_code_required", "an internet visit names its doctor")
FEE_BEFORE_VISIT = Refusal(400, "fee_before_visit", "a fee line timed outside its visit")
UNKNOWN_VISIT = Refusal(404, "unknown_visit", "no visit with this mdtrt_id of the caller's")
UNSUPPORTED_CERTIFICATE_TYPE = Refusal(
    400,
    "unsupported_certificate_type",
    "the electronic insurance voucher (01), whose tokens are not verified yet",
)
VISIT_NUMBER_REUSED = Refusal(
    409, "visit_number_reused", "the institution's ipt_otp_no names a visit registered otherwise"
)
DUPLICATE_LINE = Refusal(409, "duplicate_line", "a feedetl_sn uploaded before for this visit")
VISIT_SETTLED = Refusal(409, "visit_settled", "the visit is settled: its fee lines are final")
VISIT_AMOUNT_TOO_LARGE = Refusal(
    400,
    "visit_amount_too_large",
    "the visit's total would exceed the largest amount a claim may carry",
)
ALREADY_SETTLED = Refusal(409, "already_settled", "the visit has a live settlement")
NO_FEE_LINES = Refusal(400, "no_fee_lines", "the visit has no fee lines to settle")
UNKNOWN_SETTLEMENT = Refusal(
    404, "unknown_settlement", "no settlement with this setl_id the caller may see"
)
ALREADY_REVOKED = Refusal(409, "already_revoked", "the settlement is revoked already")
INVALID_CURSOR = Refusal(400, "invalid_cursor", "the cursor is not one this listing issued")
UNKNOWN_PRESETTLE_TOKEN = Refusal(
    400,
    "unknown_presettle_token",
    "the presettle_token was not issued by this engine for this visit",
)
NO_BENEFIT_POLICY = Refusal(400, "no_benefit_policy", "no benefit policy covers the claim")
UNKNOWN_INSTITUTION = Refusal(
    404, "unknown_institution", "no institution with this code the caller may see"
)
#: 2201's insurance checks: the visit may not be paid by insurance (it may still be registered
#: with ``selfpay_flag``); ``field`` is ``biz_type_code``.
INSURANCE_REFUSALS = (
    Refusal(400, "no_benefit_policy", "no benefit policy covers the visit"),
    Refusal(400, "doctor_not_registered_here", "the doctor is not licensed at the institution"),
    Refusal(
        400,
        "not_qualified_for_chronic_outpatient",
        "the person is not certified for the chronic disease of the main diagnosis",
    ),
    Refusal(400, "no_internet_hospital_licence", "an internet visit at an institution without one"),
    Refusal(
        400, "doctor_not_registered_for_internet", "the doctor is not registered for internet care"
    ),
    Refusal(
        400,
        "doctor_practice_under_3_years",
        "an internet visit needs a doctor with three years of independent practice",
    ),
    Refusal(
        400,
        "no_prior_inperson_diagnosis",
        "an internet follow-up needs an in-person diagnosis of the same category before it",
    ),
)
UNKNOWN_PRACTITIONER = Refusal(
    404, "unknown_practitioner", "no practitioner with this dr_code the caller may see"
)
