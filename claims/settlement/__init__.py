"""Settlement: policies, insured persons, visits and fee lines, adjudication, and pre-settle,
settle and revoke (2206–2208), docs/domain.md sections 4 and 5."""
