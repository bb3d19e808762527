"""The refusals of the reconciliation (3201, 3202) and clearing (3203) endpoints, as the published
contract documents them: each status with its stable code and when it is answered. What a caller
may not see of institutions is settlement's to say (``claims.settlement.door.reads``)."""

from __future__ import annotations

from engine.openapi import Refusal

UNKNOWN_BATCH = Refusal(404, "unknown_batch", "no clearing batch with this id the caller may see")
ALREADY_APPLIED = Refusal(409, "already_applied", "the month is applied for already")
ALREADY_APPROVED = Refusal(409, "already_approved", "the batch is approved already")
PERIOD_NOT_OVER = Refusal(400, "period_not_over", "the month is not over")
INVALID_DETAIL_FILE = Refusal(
    400,
    "invalid_detail_file",
    "the detail file is not the 3202 CSV (header, a row, an encoding); `field` names the line",
)
UNKNOWN_RECONCILIATION = Refusal(
    404, "unknown_reconciliation", "no reconciliation with this id the caller may see"
)
INVALID_PERIOD = Refusal(
    400, "invalid_period", "the statement period is empty, reversed or too long"
)
FIXMEDINS_CODE_REQUIRED = Refusal(
    400, "fixmedins_code_required", "an insurer names the institution"
)
RECONCILIATION_NOT_DONE = Refusal(
    409, "reconciliation_not_done", "the reconciliation job has not finished"
)
INVALID_UPLOAD = Refusal(
    400, "invalid_upload", "a multipart body without its one `file` part, or not a well-formed form"
)

# Inter-region claims (docs/cross-region.md).
SAME_REGION = Refusal(400, "same_region", "a claim on the caller's own region")
CLAIM_EXISTS = Refusal(409, "claim_exists", "the month's claim on that region is made already")
UNKNOWN_CLAIM = Refusal(
    404, "unknown_claim", "no inter-region claim with this id that the caller's region may see"
)
INVALID_CLAIM_FILE = Refusal(
    400,
    "invalid_claim_file",
    "the claim file is not the claim CSV (header, a line, an amount); `field` names the line",
)
