"""The presentation guard: throttle counters, and the trace code's wrong-certificate lockout

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 17:00:00.000000

Presentations by trace code are counted per pharmacy and per trace code in fixed windows (one row
per key), and a prescription's trace code locks after too many wrong certificates until the
hospital reissues it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "presentation_throttle",
        sa.Column("throttle_key", sa.String(length=80), nullable=False),
        sa.Column("window_start", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.CheckConstraint("attempts >= 1", name=op.f("ck_presentation_throttle_attempts")),
        sa.PrimaryKeyConstraint("throttle_key", name=op.f("pk_presentation_throttle")),
    )
    with op.batch_alter_table("prescription") as batch:
        batch.add_column(
            sa.Column("trace_code_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("trace_code_locked_at", engine.db.UtcDateTime(timezone=True), nullable=True)
        )
        batch.create_check_constraint(
            op.f("ck_prescription_trace_code_failures"), "trace_code_failures >= 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("prescription") as batch:
        batch.drop_constraint(op.f("ck_prescription_trace_code_failures"), type_="check")
        batch.drop_column("trace_code_locked_at")
        batch.drop_column("trace_code_failures")
    op.drop_table("presentation_throttle")
