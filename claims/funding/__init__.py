"""Funding: global budgets, DIP points, per-capita bundles, the funding ledger and the month and
year-end runs, docs/domain.md sections 7 and 8."""
