"""recon jobs: detail reconciliations done by a worker

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table(
        "recon_job",
        sa.Column("recon_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("scope_admdvs", sa.String(length=6), nullable=True),
        sa.Column("submitted_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", engine.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("started_at", engine.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", engine.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_recon_job_status")
        ),
        sa.ForeignKeyConstraint(
            ["recon_id"],
            ["recon_run.id"],
            name=op.f("fk_recon_job_recon_id_recon_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("recon_id", name=op.f("pk_recon_job")),
    )
    op.create_index(
        "ix_recon_job_pending",
        "recon_job",
        ["dispatched_at"],
        unique=False,
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_recon_job_pending",
        table_name="recon_job",
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.drop_table("recon_job")
