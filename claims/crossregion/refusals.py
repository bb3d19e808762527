"""The refusals of the cross-region endpoints, as the published contract documents them."""

from __future__ import annotations

from engine.openapi import Refusal

UNKNOWN_FILING = Refusal(
    404, "unknown_filing", "no filing with this serial number that the caller's region may see"
)
SAME_REGION = Refusal(400, "same_region", "the treatment region is the person's own")
INVALID_PERIOD = Refusal(
    400, "invalid_period", "the end is before the beginning, or would lengthen the filing"
)
OVERLAPPING_FILING = Refusal(
    409, "overlapping_filing", "the person has a filing for that region sharing a day"
)
FILING_REVOKED = Refusal(409, "filing_revoked", "the filing is revoked")
CLAIM_EXISTS = Refusal(409, "claim_exists", "the month's claim on that region is made already")
UNKNOWN_CLAIM = Refusal(
    404, "unknown_claim", "no inter-region claim with this id that the caller's region may see"
)
INVALID_CLAIM_FILE = Refusal(
    400,
    "invalid_claim_file",
    "the claim file is not the claim CSV (header, a line, an amount); `field` names the line",
)
