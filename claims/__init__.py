"""Claims domain: one-stop settlement (DOMAIN.md section 5)."""
