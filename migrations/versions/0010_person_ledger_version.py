"""The person's ledger version, for settlements that write without locking

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 16:00:00.000000

A settlement adjudicates on the person's account balance and accumulators, then writes its effects
only if the person's ledger version is still the one it read (compare-and-set), so settlements of
different people need no lock and no transaction of more than one statement. Every change to the
balance or the accumulators moves the version on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "person",
        sa.Column("ledger_version", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.drop_column("ledger_version")
