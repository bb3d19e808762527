"""Append-only audit log that write access to the database alone cannot quietly rewrite.

Every state change writes an :class:`AuditEntry` in the same transaction as the change. Entries
are chained *per stream* (one stream per object, e.g. ``settlement:<setl_id>``), so transactions on
different objects never contend for a shared "previous hash": only writers of the same object
queue, and they already hold that object's row lock. Each entry's ``hash`` is an HMAC-SHA256 under
a key kept out of the database (``SANYI_AUDIT_KEYS``), so an edited entry cannot be given a
matching hash by someone who can only write the database.

A chain alone cannot show that its newest entries (or a whole stream) were deleted, so
:func:`seal` runs every few minutes: a seal lists the head (stream, seq, hash) of every stream that
moved since the previous seal, is MACed, and is chained to the previous seal. :func:`verify`
recomputes every chain and seal, checks that every stream still reaches its sealed head, and holds
the tables the audit describes (settlements, prescriptions: each domain's ``audit_facts`` module)
to what their entries say. docs/audit.md says what this proves and what it cannot.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
import rfc8785
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    and_,
    exists,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased, mapped_column

from engine.auth import Principal
from engine.db import Base, BigIntPK, utcnow
from engine.domains import domain_modules
from engine.settings import Settings, get_settings

GENESIS = "0" * 64

#: The ``key_id`` of entries written before entries were keyed: their ``hash`` is plain SHA-256,
#: which anyone can recompute. They are proven only by what later commits to them (a keyed entry
#: after them in their stream, or a seal of their stream's head).
UNKEYED = "sha256"

#: A seal covers the heads of streams written since the previous seal, looking back this far
#: before it: longer than any transaction lives (statements and pool waits are bounded), so an
#: entry committed late is still in the next seal's window.
SEAL_LOOKBACK = timedelta(hours=1)

#: Seals run every few minutes, so a stream head older than this that no seal covers means the
#: seals that covered it were deleted (or the sealer has stopped): either way, a finding.
SEAL_OVERDUE = timedelta(hours=2)


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


# --- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Keyring:
    """The audit keys: ``signing`` MACs what is written now, every key verifies what it signed.

    Each key is kept as a ready HMAC state, copied per MAC, so the hot path pays for the digest of
    its own bytes only (what plain SHA-256 costs).
    """

    signing: str
    keys: Mapping[str, hmac.HMAC]

    def mac(self, key_id: str, message: bytes) -> str:
        state = self.keys[key_id].copy()
        state.update(message)
        return state.hexdigest()


def _derive(secret: str) -> bytes:
    hkdf = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"sanyi audit log")
    return hkdf.derive(secret.encode())


def _key_id(key: bytes) -> str:
    """A name for the key that reveals nothing of it, so entries can say which key MACed them."""
    return hmac.new(key, b"sanyi audit key id", hashlib.sha256).hexdigest()[:16]


def keyring_from(settings: Settings) -> Keyring:
    """The keyring of ``SANYI_AUDIT_KEYS`` (newest first), or of one key derived from
    ``SANYI_SECRET_KEY`` when it is unset."""
    raw = settings.audit_keys or settings.secret_key
    secrets = [part.strip() for part in raw.get_secret_value().split(",") if part.strip()]
    if not secrets:
        raise ValueError("SANYI_AUDIT_KEYS holds no key")
    keys = {}
    for secret in secrets:
        key = _derive(secret)
        keys[_key_id(key)] = hmac.new(key, digestmod=hashlib.sha256)
    return Keyring(signing=next(iter(keys)), keys=keys)


@lru_cache(maxsize=1)
def keyring() -> Keyring:
    """The process's keyring, derived once (``keyring.cache_clear()`` after changing settings)."""
    return keyring_from(get_settings())


# --- entries ---------------------------------------------------------------------------------

#: The columns an entry's MAC covers (every column but its id and the MAC itself).
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


def _canonical(values: Mapping[str, Any], *, keyed: bool) -> bytes:
    """The bytes an entry's MAC covers: its columns as JSON with sorted keys and no whitespace
    (orjson, a few microseconds on the settle path), the key id included. Unkeyed entries were
    hashed over RFC 8785 JSON without it, and are checked that way."""
    body = {name: values[name] for name in _HASHED}
    body["occurred_at"] = values["occurred_at"].astimezone(UTC).isoformat()
    body["actor_org_id"] = str(values["actor_org_id"]) if values["actor_org_id"] else None
    if not keyed:
        return rfc8785.dumps(body)
    body["key_id"] = values["key_id"]
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def entry_mac(values: Mapping[str, Any], ring: Keyring) -> str:
    """The ``hash`` the entry with these column values must carry: the HMAC under its key, or
    for an :data:`UNKEYED` entry the plain SHA-256 it was written with. KeyError: an unknown key."""
    if values["key_id"] == UNKEYED:
        return hashlib.sha256(_canonical(values, keyed=False)).hexdigest()
    return ring.mac(values["key_id"], _canonical(values, keyed=True))


def _row_values(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in (*_HASHED, "key_id")}


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
    starts a new stream), MAC included. A caller that writes the entry in a statement of its own
    (the settlement hot path) inserts these values; :func:`record` adds them as a row."""
    ring = keyring()
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
        "key_id": ring.signing,
    }
    values["hash"] = entry_mac(values, ring)
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


# --- seals -----------------------------------------------------------------------------------

Head = tuple[str, int, str]  # stream, seq, hash


def seal_mac(
    ring: Keyring, *, key_id: str, prev_mac: str, sealed_at: datetime, heads: Iterable[Head]
) -> str:
    """The MAC of a seal: its key, its predecessor, its time and its heads in stream order."""
    body: dict[str, Any] = {
        "key_id": key_id,
        "prev_mac": prev_mac,
        "sealed_at": sealed_at.astimezone(UTC).isoformat(),
        "heads": [list(head) for head in sorted(heads)],
    }
    return ring.mac(key_id, orjson.dumps(body, option=orjson.OPT_SORT_KEYS))


async def _moved_heads(session: AsyncSession, since: datetime | None) -> list[Head]:
    """The head of every stream written since ``since`` (every stream, if None) whose head is
    not sealed yet: no later entry in its stream, no seal of its stream at or past its seq."""
    later = aliased(AuditEntry)
    query = select(AuditEntry.stream, AuditEntry.seq, AuditEntry.hash).where(
        ~exists().where(and_(later.stream == AuditEntry.stream, later.seq > AuditEntry.seq)),
        ~exists().where(
            and_(AuditSealHead.stream == AuditEntry.stream, AuditSealHead.seq >= AuditEntry.seq)
        ),
    )
    if since is not None:
        query = query.where(AuditEntry.occurred_at >= since)
    rows = await session.execute(query.order_by(AuditEntry.stream))
    return [(stream, seq, entry_hash) for stream, seq, entry_hash in rows]


async def seal(session: AsyncSession, *, full: bool = False) -> AuditSeal | None:
    """Seal the heads of every stream that moved since the previous seal (None: nothing moved).

    The first seal, and one asked for with ``full``, looks at every stream; later ones at the
    streams written within :data:`SEAL_LOOKBACK` of the previous seal. Two sealers at once cannot
    fork the chain: the second one's insert fails on the unique ``prev_mac``.
    """
    last = await session.scalar(select(AuditSeal).order_by(AuditSeal.id.desc()).limit(1))
    since = None if full or last is None else last.sealed_at - SEAL_LOOKBACK
    heads = await _moved_heads(session, since)
    if not heads:
        return None
    ring = keyring()
    prev_mac = last.mac if last else GENESIS
    sealed_at = utcnow()
    row = AuditSeal(
        sealed_at=sealed_at,
        head_count=len(heads),
        prev_mac=prev_mac,
        key_id=ring.signing,
        mac=seal_mac(
            ring, key_id=ring.signing, prev_mac=prev_mac, sealed_at=sealed_at, heads=heads
        ),
    )
    session.add(row)
    await session.flush()
    await session.execute(
        insert(AuditSealHead),
        [
            {"seal_id": row.id, "stream": stream, "seq": seq, "hash": entry_hash}
            for stream, seq, entry_hash in heads
        ],
    )
    return row


# --- the rows the audit describes ------------------------------------------------------------

Facts = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Described:
    """A table whose rows the audit describes, declared by a domain's ``audit_facts`` module.

    ``rows`` yields each row's object id and its ``fields`` rendered as the entries' payloads
    render them; the newest entry of the object's stream that carries a field must agree with the
    row. A row without a stream and a stream without a row are both findings.
    """

    object_type: str
    table: str
    fields: tuple[str, ...]
    rows: Callable[[AsyncSession], AsyncIterator[tuple[str, Facts]]]


def described_tables() -> list[Described]:
    """Every domain's :class:`Described` tables (``<domain>.audit_facts.DESCRIBED``)."""
    return [d for module in domain_modules("audit_facts") for d in module.DESCRIBED]


# --- verification ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing :func:`verify` found wrong, naming the entry, seal, stream or row."""

    where: str
    problem: str


@dataclass(slots=True)
class Report:
    """What :func:`verify` checked and found; intact when ``findings`` is empty."""

    entries: int = 0
    streams: int = 0
    seals: int = 0
    last_sealed_at: datetime | None = None
    #: Streams whose newest entries no seal covers yet: the window a deletion goes unseen.
    unsealed_streams: int = 0
    #: Old plain-SHA-256 entries, and how many of them nothing keyed commits to yet.
    unkeyed: int = 0
    unkeyed_unproven: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def add(self, where: str, problem: str) -> None:
        self.findings.append(Finding(where, problem))


@dataclass(slots=True)
class _Sealed:
    seq: int
    hash: str
    seal_id: int


async def _check_seals(
    session: AsyncSession, ring: Keyring, report: Report, known_macs: Iterable[str]
) -> dict[str, _Sealed]:
    """Check the seal chain, and that it still holds the seals whose MACs were recorded outside
    the database (``known_macs``); the newest sealed head of each stream."""
    heads_of: dict[int, list[Head]] = {}
    for seal_id, stream, seq, entry_hash in await session.execute(
        select(AuditSealHead.seal_id, AuditSealHead.stream, AuditSealHead.seq, AuditSealHead.hash)
    ):
        heads_of.setdefault(seal_id, []).append((stream, seq, entry_hash))
    sealed: dict[str, _Sealed] = {}
    prev_mac = GENESIS
    for row in (await session.scalars(select(AuditSeal).order_by(AuditSeal.id))).all():
        where = f"audit_seal id={row.id}"
        heads = heads_of.pop(row.id, [])
        report.seals += 1
        report.last_sealed_at = row.sealed_at
        if row.prev_mac != prev_mac:
            report.add(where, "seal chain broken: a seal before it was deleted or changed")
        if row.key_id not in ring.keys:
            report.add(where, f"sealed with key {row.key_id}, which is not configured")
        elif len(heads) != row.head_count or row.mac != seal_mac(
            ring, key_id=row.key_id, prev_mac=row.prev_mac, sealed_at=row.sealed_at, heads=heads
        ):
            report.add(where, "seal changed: its MAC does not match its heads")
        for stream, seq, entry_hash in heads:
            if stream not in sealed or seq >= sealed[stream].seq:
                sealed[stream] = _Sealed(seq, entry_hash, row.id)
        prev_mac = row.mac
    for seal_id in heads_of:
        report.add(f"audit_seal id={seal_id}", "seal heads without their seal")
    chain = {row_mac for (row_mac,) in await session.execute(select(AuditSeal.mac))}
    for mac in known_macs:
        if mac not in chain:
            report.add(f"audit_seal mac={mac}", "a seal recorded outside the database is gone")
    return sealed


async def _streams(session: AsyncSession) -> AsyncIterator[Sequence[AuditEntry]]:
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


def _check_entry(entry: AuditEntry, ring: Keyring, report: Report) -> None:
    where = f"audit_entry id={entry.id} ({entry.stream} seq {entry.seq})"
    if entry.key_id != UNKEYED and entry.key_id not in ring.keys:
        report.add(where, f"MACed with key {entry.key_id}, which is not configured")
    elif entry_mac(_row_values(entry), ring) != entry.hash:
        report.add(where, "content edited: MAC does not match")


def _check_stream(
    stream: Sequence[AuditEntry],
    sealed: _Sealed | None,
    overdue: datetime,
    ring: Keyring,
    report: Report,
) -> None:
    """One stream's chain, its keyed-ness, that it still holds its sealed head, and that a head
    written before ``overdue`` is sealed."""
    name = stream[0].stream
    prev_hash, expected_seq, keyed_since = GENESIS, 1, False
    for entry in stream:
        where = f"audit_entry id={entry.id} ({name} seq {entry.seq})"
        report.entries += 1
        if entry.seq != expected_seq:
            report.add(where, f"sequence gap: expected seq {expected_seq}")
        if entry.prev_hash != prev_hash:
            report.add(where, "chain broken: prev_hash does not match")
        _check_entry(entry, ring, report)
        if entry.key_id == UNKEYED:
            report.unkeyed += 1
            if keyed_since:
                report.add(where, "unkeyed entry after keyed ones: written without the key")
        keyed_since = keyed_since or entry.key_id != UNKEYED
        if sealed is not None and entry.seq == sealed.seq and entry.hash != sealed.hash:
            report.add(where, f"differs from the head sealed in audit_seal id={sealed.seal_id}")
        prev_hash, expected_seq = entry.hash, entry.seq + 1
    head = stream[-1]
    if sealed is not None and head.seq < sealed.seq:
        report.add(
            f"stream {name}",
            f"newest entries deleted: seq {sealed.seq} was sealed in audit_seal id="
            f"{sealed.seal_id}, the stream now ends at seq {head.seq}",
        )
    if sealed is None or head.seq > sealed.seq:
        report.unsealed_streams += 1
        if head.occurred_at < overdue:
            report.add(
                f"stream {name}",
                f"no seal covers seq {head.seq}, written {head.occurred_at.isoformat()}: seals "
                "were deleted, or the sealer has not run",
            )
    # An unkeyed entry is proven once a keyed entry after it or a seal commits to it. The first
    # seal covers every stream, so once there is a seal an unkeyed entry nothing commits to was
    # written after the upgrade, by someone without the key.
    proven_to = max(
        [sealed.seq if sealed else 0, *(e.seq - 1 for e in stream if e.key_id != UNKEYED)]
    )
    for entry in stream:
        if entry.key_id != UNKEYED or entry.seq <= proven_to:
            continue
        if report.seals:
            report.add(
                f"audit_entry id={entry.id} ({name} seq {entry.seq})",
                "unkeyed entry no seal covers: written without the key",
            )
        else:
            report.unkeyed_unproven += 1


def _differences(row: Facts, audited: Facts) -> list[str]:
    return [
        f"{name} is {row[name]}, audited {audited[name]}"
        for name in row
        if name in audited and row[name] != audited[name]
    ]


async def _check_rows(
    session: AsyncSession,
    described: Described,
    audited: dict[str, dict[str, Any]],
    report: Report,
) -> None:
    """Hold each row of a described table to the newest facts its stream carries."""
    report.rows[described.table] = 0
    async for object_id, facts in described.rows(session):
        report.rows[described.table] += 1
        where = f"{described.table} {object_id}"
        said = audited.pop(object_id, None)
        if said is None:
            report.add(where, "row has no audit entry")
            continue
        differences = _differences(facts, said)
        if differences:
            report.add(where, "row differs from its audit: " + "; ".join(differences))
    for object_id in audited:
        report.add(f"{described.table} {object_id}", "audited, but the row is missing")


async def verify(session: AsyncSession, *, known_seals: Iterable[str] = ()) -> Report:
    """Check every seal, every stream chain against its sealed head, and every described row.

    ``known_seals`` are seal MACs kept outside the database (the sealer logs each one): the only
    way to see that the newest seals were deleted along with what they sealed.
    """
    ring = keyring()
    report = Report()
    overdue = utcnow() - SEAL_OVERDUE
    sealed = await _check_seals(session, ring, report, known_seals)
    described = {d.object_type: d for d in described_tables()}
    audited: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in described}
    async for stream in _streams(session):
        report.streams += 1
        name = stream[0].stream
        _check_stream(stream, sealed.pop(name, None), overdue, ring, report)
        kind = described.get(stream[0].object_type)
        if kind is not None:
            facts: dict[str, Any] = {}
            for entry in stream:
                facts.update((k, v) for k, v in entry.payload.items() if k in kind.fields)
            audited[kind.object_type][stream[0].object_id] = facts
    for name, lost in sealed.items():
        report.add(
            f"stream {name}",
            f"stream deleted: seq {lost.seq} was sealed in audit_seal id={lost.seal_id}",
        )
    for kind in described.values():
        await _check_rows(session, kind, audited[kind.object_type], report)
    return report
