"""Append-only, tamper-evident audit log.

Every state change writes an :class:`AuditEntry` in the same transaction as the change. Entries
are hash-chained *per stream* (one stream per object, e.g. ``settlement:<setl_id>``), so two
transactions on different objects never contend for a shared "previous hash": only writers of the
same object queue, and they already hold that object's row lock. Deleting the last entry of a
stream cannot be seen from the stream alone, so closed periods (UTC days) are *sealed*: a seal is a
digest over every stream head touched in the period, chained to the previous seal.
:func:`verify` recomputes every chain and every seal and names each entry that does not match.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import rfc8785
from sqlalchemy import JSON, BigInteger, String, UniqueConstraint, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from engine.auth import Principal
from engine.db import Base, BigIntPK, utcnow

GENESIS = "0" * 64


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
    hash: Mapped[str] = mapped_column(String(64))


class AuditSeal(Base):
    """The digest of one closed UTC day of audit entries, chained to the day before."""

    __tablename__ = "audit_seal"

    period: Mapped[date] = mapped_column(primary_key=True)
    entry_count: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))
    prev_digest: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime] = mapped_column(default=utcnow)


#: The columns an entry's hash covers (every column but its id and the hash itself).
_HASHED = (
    "stream",
    "seq",
    "prev_hash",
    "occurred_at",
    "actor_org_id",
    "actor_key_id",
    "action",
    "object_type",
    "object_id",
    "payload",
)


def _entry_hash(values: dict[str, Any]) -> str:
    body = {name: values[name] for name in _HASHED}
    body["occurred_at"] = values["occurred_at"].astimezone(UTC).isoformat()
    body["actor_org_id"] = str(values["actor_org_id"]) if values["actor_org_id"] else None
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def _row_values(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in _HASHED}


def entry_values(
    *,
    actor: Principal | None,
    action: str,
    object_type: str,
    object_id: str,
    payload: dict[str, Any] | None = None,
    head: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """The column values of the entry that follows ``head`` (the stream's last seq and hash; None
    starts a new stream), hash included. A caller that writes the entry in a statement of its own
    (the settlement hot path) inserts these values; :func:`record` adds them as a row."""
    values: dict[str, Any] = {
        "stream": f"{object_type}:{object_id}",
        "seq": head[0] + 1 if head else 1,
        "prev_hash": head[1] if head else GENESIS,
        "occurred_at": utcnow(),
        "actor_org_id": actor.org_id if actor else None,
        "actor_key_id": actor.key_id if actor else None,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "payload": payload or {},
    }
    values["hash"] = _entry_hash(values)
    return values


async def record(
    session: AsyncSession,
    *,
    actor: Principal | None,
    action: str,
    object_type: str,
    object_id: str,
    payload: dict[str, Any] | None = None,
    new_stream: bool = False,
) -> AuditEntry:
    """Append one entry to the object's stream, in the caller's transaction.

    The caller holds the lock that guards the object (or has just created it), so reading the
    stream head here cannot race another writer of the same stream; the unique (stream, seq)
    constraint makes any fork fail loudly rather than branch the chain. ``new_stream`` says the
    object was just created, which saves the head lookup on the hot path (and if it was wrong,
    the unique constraint refuses the entry).
    """
    head = None
    if not new_stream:
        head = (
            await session.execute(
                select(AuditEntry.seq, AuditEntry.hash)
                .where(AuditEntry.stream == f"{object_type}:{object_id}")
                .order_by(AuditEntry.seq.desc())
                .limit(1)
            )
        ).first()
    entry = AuditEntry(
        **entry_values(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            payload=payload,
            head=None if head is None else (head.seq, head.hash),
        )
    )
    session.add(entry)
    return entry


def _period_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


async def _period_digest(session: AsyncSession, day: date) -> tuple[int, str]:
    start, end = _period_bounds(day)
    rows = await session.execute(
        select(AuditEntry.stream, AuditEntry.seq, AuditEntry.hash)
        .where(AuditEntry.occurred_at >= start, AuditEntry.occurred_at < end)
        .order_by(AuditEntry.stream, AuditEntry.seq)
    )
    digest = hashlib.sha256()
    count = 0
    for stream, seq, entry_hash in rows:
        digest.update(f"{stream}\x1f{seq}\x1f{entry_hash}\n".encode())
        count += 1
    return count, digest.hexdigest()


async def seal(session: AsyncSession, *, until: date | None = None) -> list[AuditSeal]:
    """Seal every closed UTC day (before ``until``, default today) not sealed yet."""
    until = until or utcnow().date()
    last = await session.scalar(select(AuditSeal).order_by(AuditSeal.period.desc()).limit(1))
    first_entry = await session.scalar(select(func.min(AuditEntry.occurred_at)))
    if first_entry is None:
        return []
    day = (last.period + timedelta(days=1)) if last else first_entry.astimezone(UTC).date()
    prev = last.digest if last else GENESIS
    sealed: list[AuditSeal] = []
    while day < until:
        count, digest = await _period_digest(session, day)
        chained = hashlib.sha256(f"{prev}{day.isoformat()}{count}{digest}".encode()).hexdigest()
        row = AuditSeal(period=day, entry_count=count, digest=chained, prev_digest=prev)
        session.add(row)
        sealed.append(row)
        prev = chained
        day += timedelta(days=1)
    await session.flush()
    return sealed


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing :func:`verify` found wrong, naming the entry or seal."""

    where: str
    problem: str


async def _entries_by_stream(session: AsyncSession) -> AsyncIterator[Sequence[AuditEntry]]:
    result = await session.stream_scalars(
        select(AuditEntry).order_by(AuditEntry.stream, AuditEntry.seq)
    )
    batch: list[AuditEntry] = []
    async for entry in result:
        if batch and batch[-1].stream != entry.stream:
            yield batch
            batch = []
        batch.append(entry)
    if batch:
        yield batch


async def verify(session: AsyncSession) -> list[Finding]:
    """Recompute every stream chain and every seal; return what does not match (empty: intact)."""
    findings: list[Finding] = []
    async for stream in _entries_by_stream(session):
        prev_hash, expected_seq = GENESIS, 1
        for entry in stream:
            where = f"audit_entry id={entry.id} ({entry.stream} seq {entry.seq})"
            if entry.seq != expected_seq:
                findings.append(Finding(where, f"sequence gap: expected seq {expected_seq}"))
            if entry.prev_hash != prev_hash:
                findings.append(Finding(where, "chain broken: prev_hash does not match"))
            if _entry_hash(_row_values(entry)) != entry.hash:
                findings.append(Finding(where, "content edited: hash does not match"))
            prev_hash, expected_seq = entry.hash, entry.seq + 1
    prev = GENESIS
    for seal_row in (await session.scalars(select(AuditSeal).order_by(AuditSeal.period))).all():
        count, digest = await _period_digest(session, seal_row.period)
        chained = hashlib.sha256(
            f"{prev}{seal_row.period.isoformat()}{count}{digest}".encode()
        ).hexdigest()
        where = f"audit_seal {seal_row.period.isoformat()}"
        if seal_row.prev_digest != prev:
            findings.append(Finding(where, "seal chain broken"))
        if chained != seal_row.digest:
            findings.append(
                Finding(
                    where,
                    f"entries of the day changed ({count} now, {seal_row.entry_count} sealed)",
                )
            )
        prev = seal_row.digest
    return findings
