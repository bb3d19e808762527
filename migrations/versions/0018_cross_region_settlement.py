"""Cross-region settlement: the insured place on visits and settlements, cross-region policy

Revision ID: 0018_xregion
Revises: 0017_xregion
Create Date: 2026-12-05 08:40:00.000000

A visit and its settlement record the person's pooling region (insuplc_admdvs) beside the
institution's (admdvs) and, for care in another region, the filing type that covered it. Rows
made before are care at home: their insured place is the person's region. The insured place's
terms for cross-region care are policy data (cross_region_policy).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0018_xregion"
down_revision: str | Sequence[str] | None = "0017_xregion"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PERSONS_REGION = sa.text(
    "UPDATE {table} SET insuplc_admdvs = "
    "(SELECT person.admdvs FROM person WHERE person.psn_no = {table}.psn_no)"
)


def upgrade() -> None:
    op.create_table(
        "cross_region_policy",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("care_type", sa.String(length=20), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("payable", sa.Boolean(), nullable=False),
        sa.Column("pool_prop_points", sa.Integer(), nullable=False),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "pool_prop_points BETWEEN -100 AND 100", name=op.f("ck_cross_region_policy_points")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cross_region_policy")),
        sa.UniqueConstraint(
            "admdvs",
            "care_type",
            "valid_from",
            name=op.f("uq_cross_region_policy_admdvs_care_type_valid_from"),
        ),
    )
    for table in ("visit", "settlement"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("insuplc_admdvs", sa.String(length=6), nullable=True))
            batch.add_column(sa.Column("filing_type", sa.String(length=20), nullable=True))
        op.execute(str(_PERSONS_REGION).format(table=table))
        with op.batch_alter_table(table) as batch:
            batch.alter_column("insuplc_admdvs", existing_type=sa.String(length=6), nullable=False)
    op.create_index(
        "ix_settlement_insuplc_time", "settlement", ["insuplc_admdvs", "setl_time"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_settlement_insuplc_time", table_name="settlement")
    for table in ("settlement", "visit"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("filing_type")
            batch.drop_column("insuplc_admdvs")
    op.drop_table("cross_region_policy")
