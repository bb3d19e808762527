"""Keyed audit entries and seals that commit to every stream's head

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 17:00:00.000000

Entries gain ``key_id``: the audit key whose HMAC-SHA256 is the entry's ``hash``. Entries written
before this revision are marked ``sha256`` (their hash is plain SHA-256, which anyone can
recompute); `sanyi audit verify` still checks their chains, and they are proven by the first seal
after the upgrade, which commits to every stream's head.

The per-day seals are replaced by ``audit_seal`` (one MACed seal every few minutes, chained by
``prev_mac``) and ``audit_seal_head`` (the stream heads each seal commits to). The old day seals
were unkeyed digests that proved nothing to someone able to recompute them, so they are dropped.
A downgrade restores the empty day-seal table; entries keyed meanwhile then no longer verify.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("audit_entry") as batch:
        batch.add_column(
            sa.Column("key_id", sa.String(length=16), nullable=False, server_default="sha256")
        )
    with op.batch_alter_table("audit_entry") as batch:
        batch.alter_column("key_id", server_default=None)
    op.drop_table("audit_seal")
    op.create_table(
        "audit_seal",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("sealed_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("head_count", sa.BigInteger(), nullable=False),
        sa.Column("prev_mac", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_seal")),
        sa.UniqueConstraint("prev_mac", name=op.f("uq_audit_seal_prev_mac")),
    )
    op.create_table(
        "audit_seal_head",
        sa.Column("seal_id", _ID, autoincrement=False, nullable=False),
        sa.Column("stream", sa.String(length=120), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["seal_id"], ["audit_seal.id"], name=op.f("fk_audit_seal_head_seal_id_audit_seal")
        ),
        sa.PrimaryKeyConstraint("seal_id", "stream", name=op.f("pk_audit_seal_head")),
    )
    op.create_index("ix_audit_seal_head_stream", "audit_seal_head", ["stream", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_seal_head_stream", table_name="audit_seal_head")
    op.drop_table("audit_seal_head")
    op.drop_table("audit_seal")
    op.create_table(
        "audit_seal",
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("entry_count", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prev_digest", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_audit_seal")),
    )
    with op.batch_alter_table("audit_entry") as batch:
        batch.drop_column("key_id")
