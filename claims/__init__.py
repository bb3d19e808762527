"""Insurance claims, as three domains: settlement, funding and clearing (docs/architecture.md)."""
