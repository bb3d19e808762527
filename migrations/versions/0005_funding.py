"""funding: global budgets, DIP points, per-capita bundles

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:23:54.131022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bundle",
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=30), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("rate_per_member_month", sa.BigInteger(), nullable=False),
        sa.Column("surplus_retention_ratio", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column("quality_score", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("cleared_at", engine.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("withhold_ratio", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column("quality_full_score", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("quality_zero_score", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "quality_score IS NULL OR (quality_score >= 0 AND quality_score <= 100)",
            name=op.f("ck_bundle_quality_score"),
        ),
        sa.CheckConstraint(
            "quality_zero_score >= 0 AND quality_zero_score < quality_full_score "
            "AND quality_full_score <= 100",
            name=op.f("ck_bundle_quality_thresholds"),
        ),
        sa.CheckConstraint("rate_per_member_month >= 0", name=op.f("ck_bundle_rate")),
        sa.CheckConstraint(
            "surplus_retention_ratio >= 0 AND surplus_retention_ratio <= 1",
            name=op.f("ck_bundle_surplus_retention_ratio"),
        ),
        sa.CheckConstraint(
            "withhold_ratio >= 0 AND withhold_ratio <= 1", name=op.f("ck_bundle_withhold_ratio")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bundle")),
        sa.UniqueConstraint("fixmedins_code", "year", name=op.f("uq_bundle_fixmedins_code_year")),
    )
    op.create_index("ix_bundle_admdvs_year", "bundle", ["admdvs", "year"], unique=False)
    op.create_table(
        "dip_scheme",
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("regional_budget", sa.BigInteger(), nullable=False),
        sa.Column("adjustment_reserve", sa.BigInteger(), nullable=False),
        sa.Column("provisional_point_value", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("med_types", sa.JSON(), nullable=False),
        sa.Column("point_value", sa.Numeric(precision=24, scale=10), nullable=True),
        sa.Column("total_points", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("cleared_at", engine.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("withhold_ratio", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column("quality_full_score", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("quality_zero_score", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "adjustment_reserve >= 0 AND adjustment_reserve <= regional_budget",
            name=op.f("ck_dip_scheme_budget"),
        ),
        sa.CheckConstraint(
            "provisional_point_value >= 0", name=op.f("ck_dip_scheme_provisional_point_value")
        ),
        sa.CheckConstraint(
            "quality_zero_score >= 0 AND quality_zero_score < quality_full_score "
            "AND quality_full_score <= 100",
            name=op.f("ck_dip_scheme_quality_thresholds"),
        ),
        sa.CheckConstraint(
            "withhold_ratio >= 0 AND withhold_ratio <= 1", name=op.f("ck_dip_scheme_withhold_ratio")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dip_scheme")),
        sa.UniqueConstraint("admdvs", "year", name=op.f("uq_dip_scheme_admdvs_year")),
    )
    op.create_table(
        "funding_case_entry",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("setl_id", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=30), nullable=False),
        sa.Column("treated_by", sa.String(length=30), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("month", sa.SmallInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("dise_grp_code", sa.String(length=30), nullable=True),
        sa.Column("occurred_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "reverses_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint(
            "kind IN ('fund_share', 'dip_points', 'bundle_care')",
            name=op.f("ck_funding_case_entry_kind"),
        ),
        sa.CheckConstraint("month >= 1 AND month <= 12", name=op.f("ck_funding_case_entry_month")),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["funding_case_entry.id"],
            name=op.f("fk_funding_case_entry_reverses_id_funding_case_entry"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_case_entry")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_funding_case_entry_reverses_id")),
    )
    op.create_index(
        "ix_funding_case_entry_account",
        "funding_case_entry",
        ["kind", "fixmedins_code", "year", "month"],
        unique=False,
    )
    op.create_index(
        "ix_funding_case_entry_region",
        "funding_case_entry",
        ["kind", "admdvs", "year", "month"],
        unique=False,
    )
    op.create_index(
        op.f("ix_funding_case_entry_setl_id"), "funding_case_entry", ["setl_id"], unique=False
    )
    op.create_table(
        "funding_ledger_entry",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("scheme_id", sa.Uuid(), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=30), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("period", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("occurred_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind IN ('prepaid', 'withheld') AND amount >= 0 AND period < 13) "
            "OR (kind IN ('released', 'forfeited') AND amount <= 0 AND period = 13) "
            "OR (kind = 'clearing' AND period = 13)",
            name=op.f("ck_funding_ledger_entry_sign"),
        ),
        sa.CheckConstraint(
            "kind IN ('prepaid', 'withheld', 'released', 'forfeited', 'clearing')",
            name=op.f("ck_funding_ledger_entry_kind"),
        ),
        sa.CheckConstraint(
            "scheme IN ('global_budget', 'dip', 'bundle')",
            name=op.f("ck_funding_ledger_entry_scheme"),
        ),
        sa.CheckConstraint(
            "period >= 1 AND period <= 13", name=op.f("ck_funding_ledger_entry_period")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_ledger_entry")),
        sa.UniqueConstraint(
            "scheme_id",
            "fixmedins_code",
            "period",
            "kind",
            name=op.f("uq_funding_ledger_entry_scheme_id_fixmedins_code_period_kind"),
        ),
    )
    op.create_index(
        "ix_funding_ledger_entry_provider",
        "funding_ledger_entry",
        ["fixmedins_code", "year"],
        unique=False,
    )
    op.create_index(
        "ix_funding_ledger_entry_region", "funding_ledger_entry", ["admdvs", "year"], unique=False
    )
    op.create_table(
        "global_budget",
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=30), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("budget_amt", sa.BigInteger(), nullable=False),
        sa.Column("surplus_retention_ratio", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column("surplus_retention_cap_ratio", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column("overspend_share_ratio", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column("overspend_corridor_ratio", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column("quality_score", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("cleared_at", engine.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("withhold_ratio", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column("quality_full_score", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("quality_zero_score", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("budget_amt >= 0", name=op.f("ck_global_budget_budget_amt")),
        sa.CheckConstraint(
            "quality_score IS NULL OR (quality_score >= 0 AND quality_score <= 100)",
            name=op.f("ck_global_budget_quality_score"),
        ),
        sa.CheckConstraint(
            "quality_zero_score >= 0 AND quality_zero_score < quality_full_score "
            "AND quality_full_score <= 100",
            name=op.f("ck_global_budget_quality_thresholds"),
        ),
        sa.CheckConstraint(
            "surplus_retention_ratio >= 0 AND surplus_retention_ratio <= 1 "
            "AND surplus_retention_cap_ratio >= 0 AND surplus_retention_cap_ratio <= 1 "
            "AND overspend_share_ratio >= 0 AND overspend_share_ratio <= 1 "
            "AND overspend_corridor_ratio >= 1",
            name=op.f("ck_global_budget_ratios"),
        ),
        sa.CheckConstraint(
            "withhold_ratio >= 0 AND withhold_ratio <= 1",
            name=op.f("ck_global_budget_withhold_ratio"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_global_budget")),
        sa.UniqueConstraint(
            "fixmedins_code", "year", name=op.f("uq_global_budget_fixmedins_code_year")
        ),
    )
    op.create_index(
        "ix_global_budget_admdvs_year", "global_budget", ["admdvs", "year"], unique=False
    )
    op.create_table(
        "bundle_member",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("bundle_id", sa.Uuid(), nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("sign_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= sign_date", name=op.f("ck_bundle_member_dates")
        ),
        sa.ForeignKeyConstraint(
            ["bundle_id"], ["bundle.id"], name=op.f("fk_bundle_member_bundle_id_bundle")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bundle_member")),
        sa.UniqueConstraint(
            "bundle_id",
            "psn_no",
            "sign_date",
            name=op.f("uq_bundle_member_bundle_id_psn_no_sign_date"),
        ),
    )
    op.create_index(op.f("ix_bundle_member_psn_no"), "bundle_member", ["psn_no"], unique=False)
    op.create_table(
        "dip_group",
        sa.Column("scheme_id", sa.Uuid(), nullable=False),
        sa.Column("dise_grp_code", sa.String(length=30), nullable=False),
        sa.Column("dise_grp_name", sa.String(length=200), nullable=False),
        sa.Column("points", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("points >= 0", name=op.f("ck_dip_group_points")),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["dip_scheme.id"], name=op.f("fk_dip_group_scheme_id_dip_scheme")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dip_group")),
        sa.UniqueConstraint(
            "scheme_id", "dise_grp_code", name=op.f("uq_dip_group_scheme_id_dise_grp_code")
        ),
    )
    op.create_table(
        "dip_group_code",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("scheme_id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("icd_code", sa.String(length=20), nullable=False),
        sa.Column("match", sa.String(length=6), nullable=False),
        sa.CheckConstraint("match IN ('prefix', 'exact')", name=op.f("ck_dip_group_code_match")),
        sa.ForeignKeyConstraint(
            ["group_id"], ["dip_group.id"], name=op.f("fk_dip_group_code_group_id_dip_group")
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"], ["dip_scheme.id"], name=op.f("fk_dip_group_code_scheme_id_dip_scheme")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dip_group_code")),
        sa.UniqueConstraint(
            "scheme_id",
            "icd_code",
            "match",
            name=op.f("uq_dip_group_code_scheme_id_icd_code_match"),
        ),
    )
    op.create_index(
        op.f("ix_dip_group_code_group_id"), "dip_group_code", ["group_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_dip_group_code_group_id"), table_name="dip_group_code")
    op.drop_table("dip_group_code")
    op.drop_table("dip_group")
    op.drop_index(op.f("ix_bundle_member_psn_no"), table_name="bundle_member")
    op.drop_table("bundle_member")
    op.drop_index("ix_global_budget_admdvs_year", table_name="global_budget")
    op.drop_table("global_budget")
    op.drop_index("ix_funding_ledger_entry_region", table_name="funding_ledger_entry")
    op.drop_index("ix_funding_ledger_entry_provider", table_name="funding_ledger_entry")
    op.drop_table("funding_ledger_entry")
    op.drop_index(op.f("ix_funding_case_entry_setl_id"), table_name="funding_case_entry")
    op.drop_index("ix_funding_case_entry_region", table_name="funding_case_entry")
    op.drop_index("ix_funding_case_entry_account", table_name="funding_case_entry")
    op.drop_table("funding_case_entry")
    op.drop_table("dip_scheme")
    op.drop_index("ix_bundle_admdvs_year", table_name="bundle")
    op.drop_table("bundle")
