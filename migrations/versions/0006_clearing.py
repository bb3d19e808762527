"""reconciliation (3201/3202) and clearing (3203): runs, mismatches, batches, lines, fund lines

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:45:55.527251
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clearing_batch",
        sa.Column("clr_appy_evt_id", sa.String(length=30), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=30), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("clr_type", sa.String(length=3), nullable=False),
        sa.Column("setlym", sa.String(length=6), nullable=False),
        sa.Column("clr_stas", sa.String(length=10), nullable=False),
        sa.Column("applied_by", sa.Uuid(), nullable=False),
        sa.Column("applied_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.Uuid(), nullable=True),
        sa.Column("approved_at", engine.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("psntime", sa.Integer(), nullable=True),
        sa.Column("adjustment_cnt", sa.Integer(), nullable=True),
        sa.Column("medfee_sumamt", sa.BigInteger(), nullable=True),
        sa.Column("fund_appy_sum", sa.BigInteger(), nullable=True),
        sa.Column("acct_pay", sa.BigInteger(), nullable=True),
        sa.Column("cash_payamt", sa.BigInteger(), nullable=True),
        sa.Column("payable_sumamt", sa.BigInteger(), nullable=True),
        sa.Column("budget", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "clr_stas = 'applied' OR (approved_at IS NOT NULL AND payable_sumamt IS NOT NULL)",
            name=op.f("ck_clearing_batch_frozen"),
        ),
        sa.CheckConstraint(
            "clr_stas IN ('applied', 'approved')", name=op.f("ck_clearing_batch_clr_stas")
        ),
        sa.PrimaryKeyConstraint("clr_appy_evt_id", name=op.f("pk_clearing_batch")),
        sa.UniqueConstraint(
            "fixmedins_code",
            "clr_type",
            "setlym",
            name=op.f("uq_clearing_batch_fixmedins_code_clr_type_setlym"),
        ),
    )
    op.create_index(
        "ix_clearing_batch_admdvs_setlym", "clearing_batch", ["admdvs", "setlym"], unique=False
    )
    op.create_table(
        "recon_run",
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=30), nullable=True),
        sa.Column("insutype", sa.String(length=3), nullable=True),
        sa.Column("clr_type", sa.String(length=3), nullable=True),
        sa.Column("stmt_begndate", sa.Date(), nullable=False),
        sa.Column("stmt_enddate", sa.Date(), nullable=False),
        sa.Column("stmt_rslt", sa.String(length=1), nullable=False),
        sa.Column("file_rows", sa.BigInteger(), nullable=False),
        sa.Column("file_setl_cnt", sa.BigInteger(), nullable=False),
        sa.Column("file_medfee_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("file_fund_pay_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("file_acct_pay", sa.BigInteger(), nullable=False),
        sa.Column("here_rows", sa.BigInteger(), nullable=False),
        sa.Column("here_setl_cnt", sa.BigInteger(), nullable=False),
        sa.Column("here_medfee_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("here_fund_pay_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("here_acct_pay", sa.BigInteger(), nullable=False),
        sa.Column("missing_here", sa.BigInteger(), nullable=False),
        sa.Column("missing_there", sa.BigInteger(), nullable=False),
        sa.Column("amount_differs", sa.BigInteger(), nullable=False),
        sa.Column("revocation_differs", sa.BigInteger(), nullable=False),
        sa.Column("identity_differs", sa.BigInteger(), nullable=False),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("stmt_rslt IN ('0', '1')", name=op.f("ck_recon_run_stmt_rslt")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_run")),
    )
    op.create_index(
        "ix_recon_run_admdvs_created_at", "recon_run", ["admdvs", "created_at"], unique=False
    )
    op.create_table(
        "clearing_fund_line",
        sa.Column("clr_appy_evt_id", sa.String(length=30), nullable=False),
        sa.Column("fund", sa.String(length=20), nullable=False),
        sa.Column("claimed", sa.BigInteger(), nullable=False),
        sa.Column("adjustment", sa.BigInteger(), nullable=False),
        sa.Column("bundle_deduction", sa.BigInteger(), nullable=False),
        sa.Column("dip_deduction", sa.BigInteger(), nullable=False),
        sa.Column("budget_withheld", sa.BigInteger(), nullable=False),
        sa.Column("budget_deferred", sa.BigInteger(), nullable=False),
        sa.Column("payable", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "payable = claimed + adjustment - bundle_deduction - dip_deduction "
            "- budget_withheld - budget_deferred",
            name=op.f("ck_clearing_fund_line_payable"),
        ),
        sa.ForeignKeyConstraint(
            ["clr_appy_evt_id"],
            ["clearing_batch.clr_appy_evt_id"],
            name=op.f("fk_clearing_fund_line_clr_appy_evt_id_clearing_batch"),
        ),
        sa.PrimaryKeyConstraint("clr_appy_evt_id", "fund", name=op.f("pk_clearing_fund_line")),
    )
    op.create_table(
        "recon_mismatch",
        sa.Column("recon_id", sa.Uuid(), nullable=False),
        sa.Column("setl_id", sa.String(length=30), nullable=False),
        sa.Column("missing_here", sa.Boolean(), nullable=False),
        sa.Column("missing_there", sa.Boolean(), nullable=False),
        sa.Column("amount_differs", sa.Boolean(), nullable=False),
        sa.Column("revocation_differs", sa.Boolean(), nullable=False),
        sa.Column("identity_differs", sa.Boolean(), nullable=False),
        sa.Column("file_mdtrt_id", sa.String(length=30), nullable=True),
        sa.Column("file_psn_no", sa.String(length=30), nullable=True),
        sa.Column("file_medfee_sumamt", sa.BigInteger(), nullable=True),
        sa.Column("file_fund_pay_sumamt", sa.BigInteger(), nullable=True),
        sa.Column("file_acct_pay", sa.BigInteger(), nullable=True),
        sa.Column("file_refd_setl_flag", sa.String(length=1), nullable=True),
        sa.Column("here_mdtrt_id", sa.String(length=30), nullable=True),
        sa.Column("here_psn_no", sa.String(length=30), nullable=True),
        sa.Column("here_medfee_sumamt", sa.BigInteger(), nullable=True),
        sa.Column("here_fund_pay_sumamt", sa.BigInteger(), nullable=True),
        sa.Column("here_acct_pay", sa.BigInteger(), nullable=True),
        sa.Column("here_refd_setl_flag", sa.String(length=1), nullable=True),
        sa.ForeignKeyConstraint(
            ["recon_id"],
            ["recon_run.id"],
            name=op.f("fk_recon_mismatch_recon_id_recon_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("recon_id", "setl_id", name=op.f("pk_recon_mismatch")),
    )
    op.create_table(
        "clearing_line",
        sa.Column("setl_id", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("clr_appy_evt_id", sa.String(length=30), nullable=False),
        sa.Column("carried_from", sa.String(length=30), nullable=True),
        sa.Column("mdtrt_id", sa.String(length=30), nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("clr_way", sa.String(length=3), nullable=False),
        sa.Column("hifp_route", sa.String(length=6), nullable=False),
        sa.Column("setl_time", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", engine.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("medfee_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("fund_pay_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("psn_cash_pay", sa.BigInteger(), nullable=False),
        sa.Column("hifp_pay", sa.BigInteger(), nullable=False),
        sa.Column("cvlserv_pay", sa.BigInteger(), nullable=False),
        sa.Column("hifes_pay", sa.BigInteger(), nullable=False),
        sa.Column("hifmi_pay", sa.BigInteger(), nullable=False),
        sa.Column("hifob_pay", sa.BigInteger(), nullable=False),
        sa.Column("maf_pay", sa.BigInteger(), nullable=False),
        sa.Column("oth_pay", sa.BigInteger(), nullable=False),
        sa.Column("acct_pay", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "(kind = 'settlement' AND carried_from IS NULL) "
            "OR (kind = 'adjustment' AND carried_from IS NOT NULL)",
            name=op.f("ck_clearing_line_carried_from"),
        ),
        sa.CheckConstraint(
            "hifp_route IN ('item', 'bundle', 'points')", name=op.f("ck_clearing_line_hifp_route")
        ),
        sa.CheckConstraint(
            "kind IN ('settlement', 'adjustment')", name=op.f("ck_clearing_line_kind")
        ),
        sa.ForeignKeyConstraint(
            ["clr_appy_evt_id"],
            ["clearing_batch.clr_appy_evt_id"],
            name=op.f("fk_clearing_line_clr_appy_evt_id_clearing_batch"),
        ),
        sa.ForeignKeyConstraint(
            ["setl_id"], ["settlement.setl_id"], name=op.f("fk_clearing_line_setl_id_settlement")
        ),
        sa.PrimaryKeyConstraint("setl_id", "kind", name=op.f("pk_clearing_line")),
    )
    op.create_index(
        op.f("ix_clearing_line_clr_appy_evt_id"), "clearing_line", ["clr_appy_evt_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_clearing_line_clr_appy_evt_id"), table_name="clearing_line")
    op.drop_table("clearing_line")
    op.drop_table("recon_mismatch")
    op.drop_table("clearing_fund_line")
    op.drop_index("ix_recon_run_admdvs_created_at", table_name="recon_run")
    op.drop_table("recon_run")
    op.drop_index("ix_clearing_batch_admdvs_setlym", table_name="clearing_batch")
    op.drop_table("clearing_batch")
