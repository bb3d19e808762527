"""lz4 for the JSON documents a settlement writes

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 14:00:00.000000

A settlement writes a few kilobytes of JSON (its explanation and lines, the stored idempotent
response, the audit and outbox payloads). PostgreSQL compresses values that size on insert, by
default with pglz, which cost a measurable part of every settle's server time; lz4 compresses
about as well at a fraction of the CPU. PostgreSQL only (SQLite does not compress), and only
where the server was built with lz4: elsewhere the columns keep the server default.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOCUMENTS = {
    "settlement": ("explanation", "lines", "setldetail"),
    "idempotency_record": ("response",),
    "audit_entry": ("payload",),
    "outbox_event": ("payload",),
}


def _lz4_available() -> bool:
    methods = op.get_bind().scalar(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    )
    return "lz4" in (methods or [])


def _set_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql" or not _lz4_available():
        return
    for table, columns in DOCUMENTS.items():
        for column in columns:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("default")
