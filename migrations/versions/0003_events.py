"""events: processed-message inbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:19:24.633535
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "processed_message",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("processed_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "message_id", name=op.f("pk_processed_message")),
    )
    op.create_index(
        op.f("ix_processed_message_processed_at"),
        "processed_message",
        ["processed_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_processed_message_processed_at"), table_name="processed_message")
    op.drop_table("processed_message")
