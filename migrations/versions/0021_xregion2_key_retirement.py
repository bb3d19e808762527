"""Voucher keys can be retired

Revision ID: 0021_xregion2_key_retirement
Revises: 0020_vouchers
Create Date: 2026-12-05 12:10:00.000000

An insurer retires a key it no longer signs with (rotated, or its private half exposed): from
then on the key verifies no token and prepares none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0021_xregion2_key_retirement"
down_revision: str | Sequence[str] | None = "0020_vouchers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("voucher_key") as batch:
        batch.add_column(
            sa.Column("retired_at", engine.db.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("voucher_key") as batch:
        batch.drop_column("retired_at")
