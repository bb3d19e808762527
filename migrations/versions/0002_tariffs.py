"""tariffs: pooling regions, institutions, practitioners and the versioned catalogue

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:24:13.414577
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pooling_region",
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("catalogue_version", sa.String(length=32), nullable=False),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("admdvs", name=op.f("pk_pooling_region")),
    )
    op.create_table(
        "catalogue_import",
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("closed_count", sa.Integer(), nullable=False),
        sa.Column("actor_org_id", sa.Uuid(), nullable=True),
        sa.Column("imported_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["admdvs"],
            ["pooling_region.admdvs"],
            name=op.f("fk_catalogue_import_admdvs_pooling_region"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_import")),
    )
    op.create_index(
        op.f("ix_catalogue_import_admdvs"), "catalogue_import", ["admdvs"], unique=False
    )
    op.create_table(
        "institution",
        sa.Column("fixmedins_code", sa.String(length=30), nullable=False),
        sa.Column("fixmedins_name", sa.String(length=200), nullable=False),
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("hosp_lv", sa.SmallInteger(), nullable=True),
        sa.Column("hosp_grade", sa.String(length=1), nullable=True),
        sa.Column("internet_hospital", sa.Boolean(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "hosp_grade IS NULL OR hosp_grade IN ('A','B')", name=op.f("ck_institution_grade")
        ),
        sa.CheckConstraint(
            "kind = 'pharmacy' OR hosp_lv IS NOT NULL", name=op.f("ck_institution_hospital_level")
        ),
        sa.CheckConstraint("kind IN ('hospital','pharmacy')", name=op.f("ck_institution_kind")),
        sa.CheckConstraint(
            "hosp_lv IS NULL OR hosp_lv BETWEEN 1 AND 3", name=op.f("ck_institution_hosp_lv")
        ),
        sa.ForeignKeyConstraint(
            ["admdvs"], ["pooling_region.admdvs"], name=op.f("fk_institution_admdvs_pooling_region")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisation.id"], name=op.f("fk_institution_org_id_organisation")
        ),
        sa.PrimaryKeyConstraint("fixmedins_code", name=op.f("pk_institution")),
        sa.UniqueConstraint("org_id", name=op.f("uq_institution_org_id")),
    )
    op.create_index(op.f("ix_institution_admdvs"), "institution", ["admdvs"], unique=False)
    op.create_table(
        "catalogue_entry",
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("med_list_codg", sa.String(length=50), nullable=False),
        sa.Column("hosp_lv", sa.SmallInteger(), nullable=False),
        sa.Column("hosp_grade", sa.String(length=1), nullable=False),
        sa.Column("dr_title", sa.String(length=20), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.String(length=200), nullable=True),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("chrgitm_lv", sa.SmallInteger(), nullable=False),
        sa.Column("selfpay_prop", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column("pric_uplmt_amt", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("pric", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("controlled_class", sa.String(length=16), nullable=False),
        sa.Column("long_term_excluded", sa.Boolean(), nullable=False),
        sa.Column("antimicrobial", sa.Boolean(), nullable=False),
        sa.Column("rx_only", sa.Boolean(), nullable=False),
        sa.Column("essential", sa.Boolean(), nullable=False),
        sa.Column("non_medical", sa.Boolean(), nullable=False),
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "controlled_class IN "
            "('none','narcotic','psychotropic_1','psychotropic_2','toxic','radioactive')",
            name=op.f("ck_catalogue_entry_controlled_class"),
        ),
        sa.CheckConstraint(
            "dr_title = '' OR dr_title IN ('chief','associate_chief','attending','physician')",
            name=op.f("ck_catalogue_entry_dr_title"),
        ),
        sa.CheckConstraint(
            "hosp_grade = '' OR hosp_grade IN ('A','B')", name=op.f("ck_catalogue_entry_grade")
        ),
        sa.CheckConstraint(
            "hosp_grade = '' OR hosp_lv > 0", name=op.f("ck_catalogue_entry_grade_needs_level")
        ),
        sa.CheckConstraint(
            "kind IN ('service','drug','consumable')", name=op.f("ck_catalogue_entry_kind")
        ),
        sa.CheckConstraint("chrgitm_lv IN (1,2,3)", name=op.f("ck_catalogue_entry_chrgitm_lv")),
        sa.CheckConstraint("hosp_lv BETWEEN 0 AND 3", name=op.f("ck_catalogue_entry_hosp_lv")),
        sa.CheckConstraint("pric IS NULL OR pric >= 0", name=op.f("ck_catalogue_entry_pric")),
        sa.CheckConstraint(
            "pric_uplmt_amt IS NULL OR pric_uplmt_amt >= 0",
            name=op.f("ck_catalogue_entry_pric_uplmt_amt"),
        ),
        sa.CheckConstraint(
            "selfpay_prop >= 0 AND selfpay_prop <= 1", name=op.f("ck_catalogue_entry_selfpay_prop")
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name=op.f("ck_catalogue_entry_validity")
        ),
        sa.ForeignKeyConstraint(
            ["admdvs"],
            ["pooling_region.admdvs"],
            name=op.f("fk_catalogue_entry_admdvs_pooling_region"),
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["catalogue_import.id"],
            name=op.f("fk_catalogue_entry_import_id_catalogue_import"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_entry")),
        sa.UniqueConstraint(
            "admdvs",
            "med_list_codg",
            "hosp_lv",
            "hosp_grade",
            "dr_title",
            "valid_from",
            name="uq_catalogue_entry_version",
        ),
    )
    op.create_index(
        op.f("ix_catalogue_entry_import_id"), "catalogue_entry", ["import_id"], unique=False
    )
    op.create_table(
        "practitioner",
        sa.Column("dr_code", sa.String(length=30), nullable=False),
        sa.Column("dr_name", sa.String(length=100), nullable=False),
        sa.Column("prac_cert_no", sa.String(length=50), nullable=False),
        sa.Column("dr_title", sa.String(length=20), nullable=False),
        sa.Column("fixmedins_code", sa.String(length=30), nullable=False),
        sa.Column("indep_prac_start", sa.Date(), nullable=False),
        sa.Column("internet_practice", sa.Boolean(), nullable=False),
        sa.Column("licensed", sa.Boolean(), nullable=False),
        sa.Column("public_key", sa.String(length=200), nullable=False),
        sa.Column("key_scheme", sa.String(length=16), nullable=False),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "dr_title IN ('chief','associate_chief','attending','physician')",
            name=op.f("ck_practitioner_dr_title"),
        ),
        sa.CheckConstraint(
            "key_scheme IN ('ed25519','sm2')", name=op.f("ck_practitioner_key_scheme")
        ),
        sa.ForeignKeyConstraint(
            ["fixmedins_code"],
            ["institution.fixmedins_code"],
            name=op.f("fk_practitioner_fixmedins_code_institution"),
        ),
        sa.PrimaryKeyConstraint("dr_code", name=op.f("pk_practitioner")),
    )
    op.create_index(
        op.f("ix_practitioner_fixmedins_code"), "practitioner", ["fixmedins_code"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_practitioner_fixmedins_code"), table_name="practitioner")
    op.drop_table("practitioner")
    op.drop_index(op.f("ix_catalogue_entry_import_id"), table_name="catalogue_entry")
    op.drop_table("catalogue_entry")
    op.drop_index(op.f("ix_institution_admdvs"), table_name="institution")
    op.drop_table("institution")
    op.drop_index(op.f("ix_catalogue_import_admdvs"), table_name="catalogue_import")
    op.drop_table("catalogue_import")
    op.drop_table("pooling_region")
