"""The refusals of the registry and catalogue endpoints, as the published contract documents
them: each status with its stable code and when it is answered."""

from __future__ import annotations

from engine.openapi import Refusal

UNKNOWN_REGION = Refusal(404, "unknown_region", "no pooling region with this code")
REGION_NOT_REGISTERED = Refusal(400, "unknown_region", "the named pooling region does not exist")
UNKNOWN_ITEM = Refusal(404, "unknown_item", "no catalogue item with this code in the region")
INVALID_ENCODING = Refusal(400, "invalid_encoding", "the file is not text in the charset it names")
INVALID_ROWS = Refusal(
    400, "invalid_rows", "rows of the file break the catalogue rules; `errors` names every one"
)
OVERLAPPING_VERSION = Refusal(
    409,
    "overlapping_version",
    "a version of the file overlaps one in force; `errors` names every one",
)
DUPLICATE_REGION = Refusal(409, "duplicate_region", "the region exists already")
HOSP_LV_REQUIRED = Refusal(400, "hosp_lv_required", "a hospital needs its level")
NOT_FOR_PHARMACY = Refusal(400, "not_for_pharmacy", "a field a pharmacy does not have")
INVALID_PUBLIC_KEY = Refusal(400, "invalid_public_key", "the public key is not a key of its scheme")
UNSUPPORTED_KEY_SCHEME = Refusal(
    400, "unsupported_key_scheme", "a key scheme the engine does not verify"
)
NOT_A_HOSPITAL = Refusal(400, "not_a_hospital", "a practice site must be a hospital")
INSTITUTION_NOT_REGISTERED = Refusal(
    400, "unknown_institution", "the named institution is not registered in the region"
)
UNKNOWN_INSTITUTION = Refusal(
    404, "unknown_institution", "no institution with this code the caller may see"
)
UNKNOWN_PRACTITIONER = Refusal(
    404, "unknown_practitioner", "no practitioner with this code the caller may see"
)
DUPLICATE_INSTITUTION = Refusal(
    409, "duplicate_institution", "the institution is registered already"
)
ORGANISATION_REGION_MISMATCH = Refusal(
    400, "organisation_region_mismatch", "the organisation belongs to another region"
)
ORGANISATION_ROLE_MISMATCH = Refusal(
    400, "organisation_role_mismatch", "the organisation's role is not the institution's kind"
)
UNKNOWN_ORGANISATION = Refusal(400, "unknown_organisation", "no organisation with this id")
DUPLICATE_PRACTITIONER = Refusal(
    409, "duplicate_practitioner", "the practitioner is registered already"
)
INVALID_UPLOAD = Refusal(
    400, "invalid_upload", "a multipart body without its one `file` part, or not a well-formed form"
)

#: A fee line or price query that cannot be priced (``pricing.PricingError``); ``field`` names the
#: line's offending member.
PRICING = (
    Refusal(400, "unknown_item", "no catalogue item with this code in the region"),
    Refusal(400, "item_not_in_force", "the item has no version in force on that date"),
    Refusal(400, "level_not_covered", "the item has no price at the institution's level"),
    Refusal(400, "not_a_drug", "the item is not a drug"),
    Refusal(400, "pric_required", "an item priced by the institution needs its `pric`"),
    Refusal(400, "pric_not_positive", "a price that is not above zero"),
    Refusal(400, "price_above_tariff", "a price above the tariff in force"),
    Refusal(400, "invalid_cnt", "a quantity that is not above zero or has too many places"),
    Refusal(400, "invalid_pric", "a price with too many places"),
    Refusal(400, "line_amount_too_large", "a line's amount beyond what a claim may carry"),
)
INVALID_CURSOR = Refusal(400, "invalid_cursor", "the cursor is not one this listing issued")
CSV_NOT_PAGED = Refusal(400, "csv_not_paged", "a page was asked of the CSV export, which is whole")
