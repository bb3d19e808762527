"""Claims domain: one-stop settlement (docs/domain.md section 5)."""
