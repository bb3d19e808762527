"""claims

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:13:09.308831
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assistance_policy",
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("fund_pay_type", sa.String(length=6), nullable=False),
        sa.Column("ratio", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column("annual_cap", sa.BigInteger(), nullable=False),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistance_policy")),
        sa.UniqueConstraint(
            "admdvs",
            "category",
            "valid_from",
            name=op.f("uq_assistance_policy_admdvs_category_valid_from"),
        ),
    )
    op.create_table(
        "benefit_policy",
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("med_type", sa.String(length=3), nullable=False),
        sa.Column("hosp_lv", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("fund_pay_type", sa.String(length=6), nullable=False),
        sa.Column("deductible", sa.BigInteger(), nullable=False),
        sa.Column("pool_bands", sa.JSON(), nullable=False),
        sa.Column("retiree_pool_bands", sa.JSON(), nullable=True),
        sa.Column("annual_cap", sa.BigInteger(), nullable=False),
        sa.Column("account_enabled", sa.Boolean(), nullable=False),
        sa.Column("followup_lookback_days", sa.Integer(), nullable=False),
        sa.Column("acc_category", sa.String(length=10), nullable=False),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "deductible >= 0 AND annual_cap >= 0", name=op.f("ck_benefit_policy_amounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benefit_policy")),
        sa.UniqueConstraint(
            "admdvs",
            "insutype",
            "med_type",
            "hosp_lv",
            "valid_from",
            name=op.f("uq_benefit_policy_admdvs_insutype_med_type_hosp_lv_valid_from"),
        ),
    )
    op.create_table(
        "critical_illness_policy",
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("fund_pay_type", sa.String(length=6), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("bands", sa.JSON(), nullable=False),
        sa.Column("annual_cap", sa.BigInteger(), nullable=False),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_critical_illness_policy")),
        sa.UniqueConstraint(
            "admdvs",
            "insutype",
            "valid_from",
            name=op.f("uq_critical_illness_policy_admdvs_insutype_valid_from"),
        ),
    )
    op.create_table(
        "person",
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("psn_name", sa.String(length=50), nullable=False),
        sa.Column("certno_masked", sa.String(length=18), nullable=False),
        sa.Column("certno_hash", sa.String(length=64), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("asst_type", sa.String(length=20), nullable=True),
        sa.Column("opsp_dise_codes", sa.JSON(), nullable=False),
        sa.Column("acct_balc", sa.BigInteger(), nullable=False),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("acct_balc >= 0", name=op.f("ck_person_acct_balc_non_negative")),
        sa.PrimaryKeyConstraint("psn_no", name=op.f("pk_person")),
        sa.UniqueConstraint("certno_hash", name=op.f("uq_person_certno_hash")),
    )
    op.create_index(op.f("ix_person_admdvs"), "person", ["admdvs"], unique=False)
    op.create_table(
        "policy_version",
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("admdvs", name=op.f("pk_policy_version")),
    )
    op.create_table(
        "benefit_accumulator",
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("deductible_used", sa.BigInteger(), nullable=False),
        sa.Column("hifp_paid", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "deductible_used >= 0 AND hifp_paid >= 0",
            name=op.f("ck_benefit_accumulator_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["psn_no"], ["person.psn_no"], name=op.f("fk_benefit_accumulator_psn_no_person")
        ),
        sa.PrimaryKeyConstraint("psn_no", "year", "category", name=op.f("pk_benefit_accumulator")),
    )
    op.create_table(
        "person_year_accumulator",
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("inscp_psn_cum", sa.BigInteger(), nullable=False),
        sa.Column("critical_paid", sa.BigInteger(), nullable=False),
        sa.Column("assistance_paid", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "inscp_psn_cum >= 0 AND critical_paid >= 0 AND assistance_paid >= 0",
            name=op.f("ck_person_year_accumulator_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["psn_no"], ["person.psn_no"], name=op.f("fk_person_year_accumulator_psn_no_person")
        ),
        sa.PrimaryKeyConstraint("psn_no", "year", name=op.f("pk_person_year_accumulator")),
    )
    op.create_table(
        "visit",
        sa.Column("mdtrt_id", sa.String(length=30), nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=30), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("hosp_lv", sa.Integer(), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("med_type", sa.String(length=3), nullable=False),
        sa.Column("biz_type_code", sa.String(length=2), nullable=False),
        sa.Column("dr_code", sa.String(length=30), nullable=True),
        sa.Column("dr_title", sa.String(length=20), nullable=True),
        sa.Column("begntime", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("diseinfo", sa.JSON(), nullable=False),
        sa.Column("main_diag_code", sa.String(length=20), nullable=True),
        sa.Column("insurance_payable", sa.Boolean(), nullable=False),
        sa.Column("refusal_code", sa.String(length=60), nullable=True),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["psn_no"], ["person.psn_no"], name=op.f("fk_visit_psn_no_person")),
        sa.PrimaryKeyConstraint("mdtrt_id", name=op.f("pk_visit")),
    )
    op.create_index(op.f("ix_visit_fixmedins_code"), "visit", ["fixmedins_code"], unique=False)
    op.create_index("ix_visit_psn_begntime", "visit", ["psn_no", "begntime"], unique=False)
    op.create_table(
        "fee_line",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("mdtrt_id", sa.String(length=30), nullable=False),
        sa.Column("feedetl_sn", sa.String(length=30), nullable=False),
        sa.Column("med_list_codg", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("pric", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("cnt", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("det_item_fee_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("chrgitm_lv", sa.Integer(), nullable=False),
        sa.Column("pric_uplmt_amt", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("selfpay_prop", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column("non_medical", sa.Boolean(), nullable=False),
        sa.Column("tariff_version", sa.String(length=64), nullable=False),
        sa.Column("fee_ocur_time", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mdtrt_id"], ["visit.mdtrt_id"], name=op.f("fk_fee_line_mdtrt_id_visit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_line")),
        sa.UniqueConstraint("mdtrt_id", "feedetl_sn", name=op.f("uq_fee_line_mdtrt_id_feedetl_sn")),
    )
    op.create_index(op.f("ix_fee_line_mdtrt_id"), "fee_line", ["mdtrt_id"], unique=False)
    op.create_table(
        "settlement",
        sa.Column("setl_id", sa.String(length=30), nullable=False),
        sa.Column("mdtrt_id", sa.String(length=30), nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=30), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("insutype", sa.String(length=3), nullable=False),
        sa.Column("med_type", sa.String(length=3), nullable=False),
        sa.Column("clr_type", sa.String(length=3), nullable=False),
        sa.Column("clr_way", sa.String(length=3), nullable=False),
        sa.Column("setl_time", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("revoked_at", engine.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("acct_used_flag", sa.Boolean(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("medfee_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("fulamt_ownpay_amt", sa.BigInteger(), nullable=False),
        sa.Column("overlmt_selfpay", sa.BigInteger(), nullable=False),
        sa.Column("preselfpay_amt", sa.BigInteger(), nullable=False),
        sa.Column("inscp_scp_amt", sa.BigInteger(), nullable=False),
        sa.Column("act_pay_dedc", sa.BigInteger(), nullable=False),
        sa.Column("hifp_pay", sa.BigInteger(), nullable=False),
        sa.Column("cvlserv_pay", sa.BigInteger(), nullable=False),
        sa.Column("hifes_pay", sa.BigInteger(), nullable=False),
        sa.Column("hifmi_pay", sa.BigInteger(), nullable=False),
        sa.Column("hifob_pay", sa.BigInteger(), nullable=False),
        sa.Column("maf_pay", sa.BigInteger(), nullable=False),
        sa.Column("oth_pay", sa.BigInteger(), nullable=False),
        sa.Column("fund_pay_sumamt", sa.BigInteger(), nullable=False),
        sa.Column("psn_part_amt", sa.BigInteger(), nullable=False),
        sa.Column("acct_pay", sa.BigInteger(), nullable=False),
        sa.Column("psn_cash_pay", sa.BigInteger(), nullable=False),
        sa.Column("balc", sa.BigInteger(), nullable=False),
        sa.Column("d_deductible_used", sa.BigInteger(), nullable=False),
        sa.Column("d_hifp_paid", sa.BigInteger(), nullable=False),
        sa.Column("d_inscp_psn_cum", sa.BigInteger(), nullable=False),
        sa.Column("d_critical_paid", sa.BigInteger(), nullable=False),
        sa.Column("d_assistance_paid", sa.BigInteger(), nullable=False),
        sa.Column("setldetail", sa.JSON(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.CheckConstraint("status IN ('settled', 'revoked')", name=op.f("ck_settlement_status")),
        sa.CheckConstraint(
            "medfee_sumamt = fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt",
            name=op.f("ck_settlement_medfee_split"),
        ),
        sa.CheckConstraint(
            "medfee_sumamt = fund_pay_sumamt + psn_part_amt",
            name=op.f("ck_settlement_fund_psn_split"),
        ),
        sa.CheckConstraint(
            "medfee_sumamt >= 0 AND fulamt_ownpay_amt >= 0 AND overlmt_selfpay >= 0 AND preselfpay_amt >= 0 AND inscp_scp_amt >= 0 AND act_pay_dedc >= 0 AND hifp_pay >= 0 AND cvlserv_pay >= 0 AND hifes_pay >= 0 AND hifmi_pay >= 0 AND hifob_pay >= 0 AND maf_pay >= 0 AND oth_pay >= 0 AND fund_pay_sumamt >= 0 AND psn_part_amt >= 0 AND acct_pay >= 0 AND psn_cash_pay >= 0 AND balc >= 0",
            name=op.f("ck_settlement_non_negative"),
        ),
        sa.CheckConstraint(
            "psn_part_amt = acct_pay + psn_cash_pay", name=op.f("ck_settlement_psn_split")
        ),
        sa.ForeignKeyConstraint(
            ["mdtrt_id"], ["visit.mdtrt_id"], name=op.f("fk_settlement_mdtrt_id_visit")
        ),
        sa.ForeignKeyConstraint(
            ["psn_no"], ["person.psn_no"], name=op.f("fk_settlement_psn_no_person")
        ),
        sa.PrimaryKeyConstraint("setl_id", name=op.f("pk_settlement")),
    )
    op.create_index(
        "ix_settlement_institution_time",
        "settlement",
        ["fixmedins_code", "setl_time"],
        unique=False,
    )
    op.create_index(op.f("ix_settlement_psn_no"), "settlement", ["psn_no"], unique=False)
    op.create_index(
        "uq_settlement_live_visit",
        "settlement",
        ["mdtrt_id"],
        unique=True,
        postgresql_where=sa.text("status = 'settled'"),
        sqlite_where=sa.text("status = 'settled'"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_settlement_live_visit",
        table_name="settlement",
        postgresql_where=sa.text("status = 'settled'"),
        sqlite_where=sa.text("status = 'settled'"),
    )
    op.drop_index(op.f("ix_settlement_psn_no"), table_name="settlement")
    op.drop_index("ix_settlement_institution_time", table_name="settlement")
    op.drop_table("settlement")
    op.drop_index(op.f("ix_fee_line_mdtrt_id"), table_name="fee_line")
    op.drop_table("fee_line")
    op.drop_index("ix_visit_psn_begntime", table_name="visit")
    op.drop_index(op.f("ix_visit_fixmedins_code"), table_name="visit")
    op.drop_table("visit")
    op.drop_table("person_year_accumulator")
    op.drop_table("benefit_accumulator")
    op.drop_table("policy_version")
    op.drop_index(op.f("ix_person_admdvs"), table_name="person")
    op.drop_table("person")
    op.drop_table("critical_illness_policy")
    op.drop_table("benefit_policy")
    op.drop_table("assistance_policy")
