"""When each API key was last used, to the minute

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 17:00:00.000000

Operators list keys with their last use to find the ones nobody needs before revoking them. The
engine writes it at most once a minute per key, so it costs no write per request.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "api_key", sa.Column("last_used_at", engine.db.UtcDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("api_key") as batch:
        batch.drop_column("last_used_at")
