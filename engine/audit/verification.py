"""`sanyi audit verify`: every seal, every stream against its sealed head, every described row.

Findings name what is wrong (the entry, stream, seal or row); the report also says what was
checked and what no seal covers yet (the window in which a deletion goes unseen).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.audit.entries import entry_mac, row_values
from engine.audit.keys import Keyring, keyring
from engine.audit.models import GENESIS, UNKEYED, AuditEntry, AuditSeal, AuditSealHead
from engine.audit.seals import Head, seal_mac
from engine.db import utcnow
from engine.domains import domain_modules

#: Seals run every few minutes, so a stream head older than this that no seal covers means the
#: seals that covered it were deleted (or the sealer has stopped): either way, a finding.
SEAL_OVERDUE = timedelta(hours=2)

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
    """Every stream's entries in order, one stream at a time; each is let go of once checked, so
    the session does not hold the whole log."""
    result = await session.stream_scalars(
        select(AuditEntry).order_by(AuditEntry.stream, AuditEntry.seq)
    )
    batch: list[AuditEntry] = []
    async for entry in result:
        if batch and batch[-1].stream != entry.stream:
            yield batch
            for checked in batch:
                session.expunge(checked)
            batch = []
        batch.append(entry)
    if batch:
        yield batch


def _check_entry(entry: AuditEntry, ring: Keyring, report: Report) -> None:
    where = f"audit_entry id={entry.id} ({entry.stream} seq {entry.seq})"
    if entry.key_id != UNKEYED and entry.key_id not in ring.keys:
        report.add(where, f"MACed with key {entry.key_id}, which is not configured")
    elif entry_mac(row_values(entry), ring) != entry.hash:
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
    _check_unkeyed(stream, sealed, report)


def _check_unkeyed(stream: Sequence[AuditEntry], sealed: _Sealed | None, report: Report) -> None:
    """An unkeyed entry is proven once a keyed entry after it or a seal commits to it. The first
    seal covers every stream, so once there is a seal an unkeyed entry nothing commits to was
    written after the upgrade, by someone without the key."""
    proven_to = max(
        [sealed.seq if sealed else 0, *(e.seq - 1 for e in stream if e.key_id != UNKEYED)]
    )
    for entry in stream:
        if entry.key_id != UNKEYED or entry.seq <= proven_to:
            continue
        if report.seals:
            report.add(
                f"audit_entry id={entry.id} ({entry.stream} seq {entry.seq})",
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
