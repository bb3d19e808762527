"""Clearing: reconciliation (3201 totals, 3202 details) and clearing batches (3203), with their
jobs, docs/domain.md section 10; and the monthly inter-region claims (跨区清算) between fund
agencies, section 15."""
