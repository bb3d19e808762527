"""The refusals of the funding endpoints (global budgets, DIP, bundles, the runs), as the published
contract documents them: each status with its stable code and when it is answered."""

from __future__ import annotations

from engine.openapi import Refusal

INSTITUTION_NOT_REGISTERED = Refusal(
    400, "unknown_institution", "the named institution is not registered in the region"
)
NOT_FOUND = Refusal(404, "not_found", "nothing of this kind for that institution, region or year")
INVALID_SCHEME = Refusal(
    400, "invalid_request", "the request breaks a rule of the scheme (the message says which)"
)
INVALID_QUALITY_SCORES = Refusal(
    400, "invalid_quality_scores", "quality scores outside their range or weights"
)
BUDGET_EXISTS = Refusal(409, "budget_exists", "the provider has a budget for that year already")
ALREADY_CLEARED = Refusal(409, "already_cleared", "the year is cleared already")
YEAR_CLEARED = Refusal(409, "year_cleared", "the year is cleared: nothing of it changes any more")
PERIOD_NOT_STARTED = Refusal(400, "period_not_started", "the month has not begun")
YEAR_NOT_OVER = Refusal(400, "year_not_over", "the year is not over")
BUNDLE_EXISTS = Refusal(409, "bundle_exists", "the provider has a bundle for that year already")
ALREADY_SIGNED = Refusal(409, "already_signed", "a person is signed to a bundle that year already")
PERSON_NOT_ENROLLED = Refusal(
    400, "unknown_person", "a person to sign is not enrolled in the region"
)
INVALID_ICD_CODE = Refusal(400, "invalid_icd_code", "an ICD-10 code that is not one")
DIP_SCHEME_EXISTS = Refusal(
    409, "dip_scheme_exists", "the region has a points table for that year already"
)
DUPLICATE_GROUP = Refusal(400, "duplicate_group", "a DIP group is listed twice")
GROUP_UNMAPPED = Refusal(400, "group_unmapped", "a DIP group maps no ICD code")
ICD_MAPPED_TWICE = Refusal(400, "icd_mapped_twice", "an ICD code is mapped to two groups")
NO_POINTS = Refusal(400, "no_points", "the region's points table holds no points")
NO_FUNDING_SCHEME = Refusal(
    400, "no_funding_scheme", "the provider has no budget, points table or bundle that year"
)
QUALITY_SCORE_MISSING = Refusal(
    400, "quality_score_missing", "the clearing needs every provider's quality score"
)
