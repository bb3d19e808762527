"""The insurer console's sign-in sessions and one-time sign-in links

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 18:00:00.000000

The browser holds only a random session id in a cookie; the key it was exchanged for never
leaves the server. Both tables store a SHA-256 of the random token, not the token, so a database
leak opens no console.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("api_key_id", sa.Uuid(), sa.ForeignKey("api_key.id"), nullable=False),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", engine.db.UtcDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "console_session",
        *_columns(),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("ended_at", engine.db.UtcDateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "console_signin_link",
        *_columns(),
        sa.Column("used_at", engine.db.UtcDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("console_signin_link")
    op.drop_table("console_session")
