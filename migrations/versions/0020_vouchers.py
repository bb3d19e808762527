"""Electronic insurance vouchers: regions' signing keys and redeemed tokens

Revision ID: 0020_vouchers
Revises: 0019_xregion
Create Date: 2026-12-05 08:05:00.000000

Each insurer registers the public keys it signs its region's voucher tokens with; every token
used once leaves a row whose primary key (the token id) makes a second use conflict.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0020_vouchers"
down_revision: str | Sequence[str] | None = "0019_xregion"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voucher_key",
        sa.Column("admdvs", sa.String(length=6), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("key_scheme", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=100), nullable=False),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "key_scheme IN ('ed25519','sm2')", name=op.f("ck_voucher_key_key_scheme")
        ),
        sa.PrimaryKeyConstraint("admdvs", "key_id", name=op.f("pk_voucher_key")),
    )
    op.create_table(
        "redeemed_voucher",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("insuplc_admdvs", sa.String(length=6), nullable=False),
        sa.Column("psn_no", sa.String(length=30), nullable=False),
        sa.Column("used_for", sa.String(length=16), nullable=False),
        sa.Column("used_by", sa.String(length=30), nullable=False),
        sa.Column("used_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_redeemed_voucher")),
    )


def downgrade() -> None:
    op.drop_table("redeemed_voucher")
    op.drop_table("voucher_key")
