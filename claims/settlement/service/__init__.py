"""The business rules of settlement, one module per concept; each takes a session and never
commits."""
