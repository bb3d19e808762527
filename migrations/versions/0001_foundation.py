"""foundation: organisations, api keys, audit, outbox, idempotency

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:01:29.809316
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import engine.db

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("stream", sa.String(length=120), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor_org_id", sa.Uuid(), nullable=True),
        sa.Column("actor_key_id", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=80), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
        sa.UniqueConstraint("stream", "seq", name=op.f("uq_audit_entry_stream_seq")),
    )
    op.create_index(
        op.f("ix_audit_entry_occurred_at"), "audit_entry", ["occurred_at"], unique=False
    )
    op.create_table(
        "audit_seal",
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("entry_count", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prev_digest", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("period", name=op.f("pk_audit_seal")),
    )
    op.create_table(
        "idempotency_record",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "key", name=op.f("pk_idempotency_record")),
    )
    op.create_table(
        "organisation",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("institution_code", sa.String(length=30), nullable=True),
        sa.Column("admdvs", sa.String(length=6), nullable=True),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "role IN ('hospital','pharmacy','insurer','admin')", name=op.f("ck_organisation_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation")),
        sa.UniqueConstraint("institution_code", name=op.f("uq_organisation_institution_code")),
    )
    op.create_table(
        "outbox_event",
        sa.Column("event_type", sa.String(length=60), nullable=False),
        sa.Column("routing_key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("published_at", engine.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_event")),
    )
    op.create_index(
        "ix_outbox_event_pending", "outbox_event", ["published_at", "next_attempt_at"], unique=False
    )
    op.create_table(
        "api_key",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("created_at", engine.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", engine.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisation.id"], name=op.f("fk_api_key_org_id_organisation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_key_key_id")),
    )
    op.create_index(op.f("ix_api_key_org_id"), "api_key", ["org_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_api_key_org_id"), table_name="api_key")
    op.drop_table("api_key")
    op.drop_index("ix_outbox_event_pending", table_name="outbox_event")
    op.drop_table("outbox_event")
    op.drop_table("organisation")
    op.drop_table("idempotency_record")
    op.drop_table("audit_seal")
    op.drop_index(op.f("ix_audit_entry_occurred_at"), table_name="audit_entry")
    op.drop_table("audit_entry")
