"""Sanyi engine core: what every domain shares (settings, database, money, errors, auth, audit,
outbox, the app factory and the CLI)."""
