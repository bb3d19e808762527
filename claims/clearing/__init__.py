"""Clearing: reconciliation (3201 totals, 3202 details) and clearing batches (3203), with their
jobs, docs/domain.md section 10."""
