"""Cross-region filings (备案)

Revision ID: 0017_xregion
Revises: 0016
Create Date: 2026-12-05 08:10:00.000000

An insured place's insurer files a person for care in another region: the filing's type,
treatment region and period decide at registration how the visit is adjudicated.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0017_xregion"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cross_region_filing",
        sa.Column("trt_dcla_detl_sn", sa.String(length=30), nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("insuplc_admdvs", sa.String(length=6), nullable=False),
        sa.Column("mdtrtarea_admvs", sa.String(length=6), nullable=False),
        sa.Column("filing_type", sa.String(length=20), nullable=False),
        sa.Column("begndate", sa.Date(), nullable=False),
        sa.Column("enddate", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("revoked_at", engine.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "filing_type IN ('long_term_residence', 'referral', 'temporary_travel')",
            name=op.f("ck_cross_region_filing_filing_type"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'revoked')", name=op.f("ck_cross_region_filing_status")
        ),
        sa.CheckConstraint(
            "enddate IS NULL OR enddate >= begndate", name=op.f("ck_cross_region_filing_period")
        ),
        sa.CheckConstraint(
            "insuplc_admdvs <> mdtrtarea_admvs", name=op.f("ck_cross_region_filing_other_region")
        ),
        sa.ForeignKeyConstraint(
            ["psn_no"], ["person.psn_no"], name=op.f("fk_cross_region_filing_psn_no_person")
        ),
        sa.PrimaryKeyConstraint("trt_dcla_detl_sn", name=op.f("pk_cross_region_filing")),
    )
    op.create_index(
        "ix_cross_region_filing_person",
        "cross_region_filing",
        ["psn_no", "mdtrtarea_admvs"],
    )
    op.create_index(
        "ix_cross_region_filing_treatment",
        "cross_region_filing",
        ["mdtrtarea_admvs", "begndate"],
    )
    op.create_index(
        op.f("ix_cross_region_filing_insuplc_admdvs"), "cross_region_filing", ["insuplc_admdvs"]
    )


def downgrade() -> None:
    op.drop_table("cross_region_filing")
