"""The refusals of the voucher endpoints and of every use of a token, as the published contract
documents them."""

from __future__ import annotations

from engine.openapi import Refusal

VOUCHER_INVALID = Refusal(
    400,
    "voucher_invalid",
    "the `mdtrt_cert_no` is not a voucher token the engine can verify: undecodable, altered, "
    "signed by another key, or naming no person insured in the issuing region",
)
VOUCHER_UNKNOWN_ISSUER = Refusal(
    400,
    "voucher_unknown_issuer",
    "no voucher key in force (registered and not retired) has the token's key id for its "
    "issuing region",
)
VOUCHER_EXPIRED = Refusal(400, "voucher_expired", "the voucher token's lifetime is over")
VOUCHER_REUSED = Refusal(409, "voucher_reused", "the voucher token was used before")
#: Every refusal a use of a token can give: the operations that accept ``mdtrt_cert_type`` 01
#: document these.
REDEEM = (VOUCHER_INVALID, VOUCHER_UNKNOWN_ISSUER, VOUCHER_EXPIRED, VOUCHER_REUSED)

INVALID_PUBLIC_KEY = Refusal(
    400, "invalid_public_key", "the public key is not a key of its scheme in base64"
)
VOUCHER_KEY_EXISTS = Refusal(409, "voucher_key_exists", "the region already has this key")
UNKNOWN_VOUCHER_KEY = Refusal(
    400, "unknown_voucher_key", "no voucher key in force of the caller's region has this key id"
)
VOUCHER_KEY_NOT_FOUND = Refusal(
    404, "unknown_voucher_key", "no voucher key of the caller's region has the path's key id"
)
VOUCHER_KEY_RETIRED = Refusal(409, "voucher_key_retired", "the key was retired before")
UNKNOWN_PERSON = Refusal(
    404, "unknown_person", "no person with this psn_no is insured in the caller's region"
)
