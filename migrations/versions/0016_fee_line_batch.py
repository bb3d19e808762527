"""The charge batch a fee line was uploaded in

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 18:40:00.000000

A HIS uploads a visit's fee lines in charge batches (chrg_bchno) and names the batch again
when it cancels or settles. The line keeps its batch so that 2205 can cancel one batch and
2206/2207 can refuse a settlement of a batch other than the visit's. Lines uploaded without a
batch keep none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fee_line") as batch:
        batch.add_column(sa.Column("chrg_bchno", sa.String(length=30), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fee_line") as batch:
        batch.drop_column("chrg_bchno")
