"""The audit log's tables: entries, chained per stream, and the seals over stream heads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base, BigIntPK

GENESIS = "0" * 64

#: The ``key_id`` of entries written before entries were keyed: their ``hash`` is plain SHA-256,
#: which anyone can recompute. They are proven only by what later commits to them (a keyed entry
#: after them in their stream, or a seal of their stream's head).
UNKEYED = "sha256"


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    __table_args__ = (UniqueConstraint("stream", "seq"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    stream: Mapped[str] = mapped_column(String(120))
    seq: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    actor_org_id: Mapped[uuid.UUID | None]
    actor_key_id: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    #: Which audit key MACed the entry (:data:`UNKEYED` for the plain SHA-256 of old entries).
    key_id: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64))


class AuditSeal(Base):
    """A MACed commitment to the heads of the streams that moved since the previous seal, chained
    to it (the unique ``prev_mac`` keeps the chain from forking if two sealers run at once)."""

    __tablename__ = "audit_seal"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    sealed_at: Mapped[datetime]
    head_count: Mapped[int] = mapped_column(BigInteger)
    prev_mac: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[str] = mapped_column(String(16))
    mac: Mapped[str] = mapped_column(String(64))


class AuditSealHead(Base):
    """One stream head a seal commits to."""

    __tablename__ = "audit_seal_head"
    __table_args__ = (Index("ix_audit_seal_head_stream", "stream", "seq"),)

    seal_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("audit_seal.id"), primary_key=True, autoincrement=False
    )
    stream: Mapped[str] = mapped_column(String(120), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
