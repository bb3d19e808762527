"""Inter-region claims (跨区清算)

Revision ID: 0019_xregion
Revises: 0018_xregion
Create Date: 2026-12-05 09:00:00.000000

A treatment place's monthly claim on an insured place, frozen as made, and its lines: each
cross-region settlement claimed once, and its revocation after the freeze carried once into a
later claim.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0019_xregion"
down_revision: str | Sequence[str] | None = "0018_xregion"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "interregion_claim",
        sa.Column("claim_id", sa.String(length=30), nullable=False),
        sa.Column("mdtrtarea_admvs", sa.String(length=6), nullable=False),
        sa.Column("insuplc_admdvs", sa.String(length=6), nullable=False),
        sa.Column("setlym", sa.String(length=6), nullable=False),
        sa.Column("frozen_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("setl_cnt", sa.Integer(), nullable=False),
        sa.Column("adjustment_cnt", sa.Integer(), nullable=False),
        sa.Column("medfee_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("fund_pay_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("pk_interregion_claim")),
        sa.UniqueConstraint(
            "mdtrtarea_admvs",
            "insuplc_admdvs",
            "setlym",
            name=op.f("uq_interregion_claim_mdtrtarea_admvs_insuplc_admdvs_setlym"),
        ),
    )
    op.create_index(
        op.f("ix_interregion_claim_insuplc_admdvs"), "interregion_claim", ["insuplc_admdvs"]
    )
    op.create_table(
        "interregion_claim_line",
        sa.Column("setl_id", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("claim_id", sa.String(length=30), nullable=False),
        sa.Column("mdtrt_id", sa.String(length=30), nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=30), nullable=False),
        sa.Column("filing_type", sa.String(length=20), nullable=False),
        sa.Column("setl_time", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("medfee_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("fund_pay_sumamt", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('settlement', 'adjustment')", name=op.f("ck_interregion_claim_line_kind")
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["interregion_claim.claim_id"],
            name=op.f("fk_interregion_claim_line_claim_id_interregion_claim"),
        ),
        sa.ForeignKeyConstraint(
            ["setl_id"],
            ["settlement.setl_id"],
            name=op.f("fk_interregion_claim_line_setl_id_settlement"),
        ),
        sa.PrimaryKeyConstraint("setl_id", "kind", name=op.f("pk_interregion_claim_line")),
    )
    op.create_index(
        op.f("ix_interregion_claim_line_claim_id"), "interregion_claim_line", ["claim_id"]
    )


def downgrade() -> None:
    op.drop_table("interregion_claim_line")
    op.drop_table("interregion_claim")
