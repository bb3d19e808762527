"""prescriptions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 09:41:51.444535
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prescription",
        sa.Column("hi_rxno", sa.String(length=30), nullable=False),
        sa.Column("trace_code_hash", sa.String(length=64), nullable=False),
        sa.Column("hosp_rxno", sa.String(length=40), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=30), nullable=False),
        sa.Column("mdtrt_id", sa.String(length=30), nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("dr_code", sa.String(length=30), nullable=False),
        sa.Column("prsc_time", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("vali_end_time", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("max_rept_cnt", sa.Integer(), nullable=False),
        sa.Column("min_inrv_days", sa.Integer(), nullable=False),
        sa.Column("biz_type_code", sa.String(length=2), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("signature", sa.JSON(), nullable=False),
        sa.Column("nominated_code", sa.String(length=30), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("rvw_opnn", sa.String(length=500), nullable=True),
        sa.Column("phar_code", sa.String(length=30), nullable=True),
        sa.Column("phar_name", sa.String(length=50), nullable=True),
        sa.Column("reviewed_at", engine.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=500), nullable=True),
        sa.Column("dspe_cnt", sa.Integer(), nullable=False),
        sa.Column("lock_holder", sa.String(length=30), nullable=True),
        sa.Column("lock_expires_at", engine.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending_review', 'circulating', 'dispensed', 'expired', 'revoked',"
            " 'voided')",
            name=op.f("ck_prescription_status"),
        ),
        sa.CheckConstraint(
            "(lock_holder IS NULL) = (lock_expires_at IS NULL)",
            name=op.f("ck_prescription_lock_has_lease"),
        ),
        sa.CheckConstraint(
            "dspe_cnt >= 0 AND dspe_cnt <= max_rept_cnt AND max_rept_cnt >= 1"
            " AND min_inrv_days >= 0",
            name=op.f("ck_prescription_dispense_count"),
        ),
        sa.PrimaryKeyConstraint("hi_rxno", name=op.f("pk_prescription")),
        sa.UniqueConstraint(
            "fixmedins_code", "hosp_rxno", name=op.f("uq_prescription_fixmedins_code_hosp_rxno")
        ),
        sa.UniqueConstraint("trace_code_hash", name=op.f("uq_prescription_trace_code_hash")),
    )
    op.create_index(
        "ix_prescription_due", "prescription", ["status", "vali_end_time"], unique=False
    )
    op.create_index(
        op.f("ix_prescription_lock_expires_at"), "prescription", ["lock_expires_at"], unique=False
    )
    op.create_table(
        "prescription_access",
        sa.Column("hi_rxno", sa.String(length=30), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=30), nullable=False),
        sa.Column("via", sa.String(length=10), nullable=False),
        sa.Column("granted_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "via IN ('routed', 'presented')", name=op.f("ck_prescription_access_via")
        ),
        sa.ForeignKeyConstraint(
            ["hi_rxno"],
            ["prescription.hi_rxno"],
            name=op.f("fk_prescription_access_hi_rxno_prescription"),
        ),
        sa.PrimaryKeyConstraint("hi_rxno", "fixmedins_code", name=op.f("pk_prescription_access")),
    )
    op.create_index(
        "ix_prescription_access_pharmacy",
        "prescription_access",
        ["fixmedins_code", "granted_at"],
        unique=False,
    )
    op.create_table(
        "prescription_dispense",
        sa.Column("hi_rxno", sa.String(length=30), nullable=False),
        sa.Column("dspe_seq", sa.Integer(), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=30), nullable=False),
        sa.Column("dspe_time", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("mdtrt_id", sa.String(length=30), nullable=False),
        sa.Column("setl_id", sa.String(length=30), nullable=False),
        sa.Column("phar_code", sa.String(length=30), nullable=True),
        sa.Column("phar_name", sa.String(length=50), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("dspe_seq >= 1", name=op.f("ck_prescription_dispense_dspe_seq")),
        sa.ForeignKeyConstraint(
            ["hi_rxno"],
            ["prescription.hi_rxno"],
            name=op.f("fk_prescription_dispense_hi_rxno_prescription"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescription_dispense")),
        sa.UniqueConstraint(
            "hi_rxno", "dspe_seq", name=op.f("uq_prescription_dispense_hi_rxno_dspe_seq")
        ),
    )
    op.create_table(
        "drug_trace_code",
        sa.Column("drug_trac_codg", sa.String(length=100), nullable=False),
        sa.Column("dispense_id", sa.Uuid(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dispense_id"],
            ["prescription_dispense.id"],
            name=op.f("fk_drug_trace_code_dispense_id_prescription_dispense"),
        ),
        sa.PrimaryKeyConstraint("drug_trac_codg", name=op.f("pk_drug_trace_code")),
    )
    op.create_table(
        "prescription_dispense_line",
        sa.Column("dispense_id", sa.Uuid(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("med_list_codg", sa.String(length=50), nullable=False),
        sa.Column("cnt", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("pric", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("manu_lotnum", sa.String(length=50), nullable=False),
        sa.Column("drug_trac_codg", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "cnt > 0 AND pric >= 0", name=op.f("ck_prescription_dispense_line_amounts")
        ),
        sa.ForeignKeyConstraint(
            ["dispense_id"],
            ["prescription_dispense.id"],
            name=op.f("fk_prescription_dispense_line_dispense_id_prescription_dispense"),
        ),
        sa.PrimaryKeyConstraint(
            "dispense_id", "line_no", name=op.f("pk_prescription_dispense_line")
        ),
    )


def downgrade() -> None:
    op.drop_table("prescription_dispense_line")
    op.drop_table("drug_trace_code")
    op.drop_table("prescription_dispense")
    op.drop_index("ix_prescription_access_pharmacy", table_name="prescription_access")
    op.drop_table("prescription_access")
    op.drop_index(op.f("ix_prescription_lock_expires_at"), table_name="prescription")
    op.drop_index("ix_prescription_due", table_name="prescription")
    op.drop_table("prescription")
